"""One recurrent layer through ``scratchrnn.functional``, forward and backward, for the tests
that run the same pass two ways (row blocks against serial, panels against plain weights)."""

import numpy as np

from scratchrnn import functional as F

# the ways one layer is run: the RNN's two nonlinearities, the LSTM with and without a projection, the GRU
KINDS = [("tanh", False), ("relu", False), ("lstm", False), ("lstm", True), ("gru", False)]


def layer_params(kind, proj, N, I, H, P, rng):
    """float64 weights of torch's scale (1/√fan-in: a recurrence that neither explodes nor
    saturates), biases and initial states for one layer; P is the projection size, used with proj."""
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    K = P if proj else H
    return {"w_ih": rng.standard_normal((G * H, I)) / I ** 0.5, "w_hh": rng.standard_normal((G * H, K)) / K ** 0.5,
            "b_ih": rng.standard_normal(G * H) * 0.1, "b_hh": rng.standard_normal(G * H) * 0.1,
            "w_hr": rng.standard_normal((P, H)) / H ** 0.5, "h0": rng.standard_normal((N, K)) * 0.5,
            "c0": rng.standard_normal((N, H)) * 0.5}


def run_layer(kind, x, p, lengths, proj):
    """One forward and backward of one layer; returns every output and gradient as a flat list."""
    rng = np.random.default_rng(5)
    if kind == "lstm":
        out, h_n, c_n, cache = F.lstm_forward(x, p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                              p["w_hr"] if proj else None, lengths)
        d_out = rng.standard_normal(out.shape)
        g = F.lstm_backward(d_out, rng.standard_normal(h_n.shape), rng.standard_normal(c_n.shape), cache)
        return [out, h_n, c_n] + [v for v in g if v is not None]
    fwd, bwd = (F.gru_forward, F.gru_backward) if kind == "gru" else (F.rnn_forward, F.rnn_backward)
    extra = {} if kind == "gru" else {"nonlinearity": kind}
    out, h_n, cache = fwd(x, p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], lengths=lengths, **extra)
    d_out = rng.standard_normal(out.shape)
    g = bwd(d_out, rng.standard_normal(h_n.shape), cache)
    return [out, h_n] + [v for v in g if v is not None]
