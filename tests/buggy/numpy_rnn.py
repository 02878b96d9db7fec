"""A correct protocol-style target: a one-layer tanh RNN, either direction, in vectorised NumPy.

``scratchrnn check tests.buggy.numpy_rnn:rnn`` calls ``rnn(config, arrays)`` with torch's
names and layout (x (T, N, I), weight_ih_l0 (H, I), ...) and gets every output and gradient
back. It declines, with a reason, what it does not implement.
"""

import numpy as np


def rnn(config, arrays):
    if config["kind"] != "rnn" or config["nonlinearity"] != "tanh":
        raise NotImplementedError("only the tanh RNN")
    if config["mode"] != "sequence" or config["num_layers"] != 1 or "lengths" in arrays:
        raise NotImplementedError("one layer over full-length sequences only")
    x = arrays["x"]                                                  # (T, N, I)
    N = x.shape[1]
    H = config["hidden_size"]
    D = 2 if config["bidirectional"] else 1
    h0 = arrays.get("h0", np.zeros((D, N, H), x.dtype))              # (D, N, H)
    res = {"grad_x": np.zeros_like(x)}
    outs, h_n, dh0 = [], [], []
    for d, sfx in enumerate(["_l0", "_l0_reverse"][:D]):
        w = {k: arrays[k + sfx] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if k + sfx in arrays}
        xd = x if d == 0 else x[::-1]                                # (S2) the reverse reads x_T first
        h = one_direction(xd, h0[d], w)                              # (T+1, N, H)
        outs.append(h[1:] if d == 0 else h[1:][::-1])                # (S2) re-aligned with x_t
        h_n.append(h[-1])
        d_out = arrays["d_out"][:, :, d * H:(d + 1) * H]             # (T, N, H) this direction's half
        d_out = d_out if d == 0 else d_out[::-1]                     # (S2) into the direction's own time
        g = backward(xd, h, w, d_out, arrays["d_h_n"][d])
        res["grad_x"] += g.pop("x") if d == 0 else g.pop("x")[::-1]
        dh0.append(g.pop("h0"))
        res.update({f"grad_{k}{sfx}": v for k, v in g.items()})
    res["out"] = np.concatenate(outs, axis=2)                        # (T, N, D·H)
    res["h_n"] = np.stack(h_n)                                       # (D, N, H)
    if "h0" in arrays:
        res["grad_h0"] = np.stack(dh0)
    return res


def one_direction(x, h0, w):
    """h (T+1, N, H) with h[0] = h0: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)."""
    T = x.shape[0]
    h = np.empty((T + 1,) + h0.shape, x.dtype)
    h[0] = h0
    xw = x @ w["weight_ih"].T + w.get("bias_ih", 0) + w.get("bias_hh", 0)   # (T, N, H) hoisted
    for t in range(T):
        h[t + 1] = np.tanh(xw[t] + h[t] @ w["weight_hh"].T)          # (R1), (R2)
    return h


def backward(x, h, w, d_out, d_h_n):
    """Gradients of one direction, by (R3)–(R8)."""
    T, N, H = d_out.shape
    da = np.empty_like(d_out)                                        # (T, N, H)
    delta = d_h_n                                                    # (N, H)
    for t in reversed(range(T)):
        dh = d_out[t] + delta                                        # (R3)
        da[t] = dh * (1 - h[t + 1] ** 2)                             # (R4)
        delta = da[t] @ w["weight_hh"]                               # (R5)
    g = {"x": da @ w["weight_ih"], "h0": delta}                      # (R6), dh0 = δ_0
    g["weight_ih"] = da.reshape(-1, H).T @ x.reshape(T * N, -1)      # (R6)
    g["weight_hh"] = da.reshape(-1, H).T @ h[:-1].reshape(-1, H)     # (R7) pairs da_t with h_{t-1}
    if "bias_ih" in w:
        g["bias_ih"] = da.sum(axis=(0, 1))                           # (R8)
        g["bias_hh"] = da.sum(axis=(0, 1))
    return g
