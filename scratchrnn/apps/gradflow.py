"""Gradient flow through time: the vanishing/exploding-gradient picture, measured.

For each model (RNN tanh, LSTM, GRU), on the same random input and sequence
length, the loss reads only the top layer's last output, ``L = Σ_n <u_n, h_T>``
with random ``u``. We record

- ``‖∂L/∂h_t‖`` for every step and layer: the total gradient reaching each state,
  which the backward kernels record on their way back (``grads.dh``, (R3)/(L5)/(G5));
- the spectral norm of the per-step Jacobian of layer 0's state,
  ``‖∂s_t/∂s_{t-1}‖₂`` with ``s = h`` (RNN, GRU) or ``s = (h, c)`` (LSTM), exact:
  one batched one-step backward gives every row of the Jacobian at once.

A product of Jacobians with norms below 1 shrinks the gradient geometrically as it
goes back in time; the LSTM's cell path (``dc_{t-1} = dc_t ⊙ f``) is what keeps it alive.
"""

import json
import os

import numpy as np

from scratchrnn import functional as F
from scratchrnn import registry
from scratchrnn.modules import LSTM

MODELS = registry.NAMES


def _layers(model, input_size, hidden, layers, seed, forget_bias=None):
    """One single-layer module per layer, so each layer's gradient can be read on its own."""
    mods = []
    for k in range(layers):
        n_in = input_size if k == 0 else hidden
        kw = dict(dtype=np.float64, seed=seed + k)
        if model == "lstm":
            mods.append(LSTM(n_in, hidden, forget_bias=forget_bias, **kw))
        else:
            mods.append(registry.model_class(model)(n_in, hidden, **kw))
    return mods


def _weights(m):
    p = m.state_dict()
    return p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"]


def gradient_norms(model, T=100, N=8, input_size=8, hidden=32, layers=2, seed=0, forget_bias=None):
    """``{"grad_norm": (layers, T), "jacobian_norm": (T,)}`` for one model kind (float64).

    ``forget_bias`` initialises the LSTM's forget gate (see ``sr.LSTM``); None is torch's init.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, input_size))                    # (T, N, I), same for every model
    u = rng.standard_normal((N, hidden))                           # (N, H) reads h_T of the top layer
    mods = _layers(model, input_size, hidden, layers, seed, forget_bias)
    caches, ins = [], x
    for m in mods:                                                 # forward, layer by layer
        w = _weights(m)
        zeros = np.zeros((N, hidden))
        if model == "lstm":
            out, _, _, cache = F.lstm_forward(ins, zeros, zeros, *w)
        elif model == "gru":
            out, _, cache = F.gru_forward(ins, zeros, *w)
        else:
            out, _, cache = F.rnn_forward(ins, zeros, *w)
        caches.append(cache)
        ins = out
    norms = np.empty((layers, T))
    d_out = np.zeros((T, N, hidden))
    d_out[-1] = u                                                  # ∂L/∂out_T of the top layer
    for k in reversed(range(layers)):                              # backward, layer by layer
        zeros = np.zeros((N, hidden))
        if model == "lstm":
            g = F.lstm_backward(d_out, zeros, zeros, caches[k])
        elif model == "gru":
            g = F.gru_backward(d_out, zeros, caches[k])
        else:
            g = F.rnn_backward(d_out, zeros, caches[k])
        norms[k] = np.linalg.norm(g.dh.reshape(T, -1), axis=1)    # ‖∂L/∂h_t‖ over the batch
        d_out = g.dx                                               # (S1) into the layer below
    return {"grad_norm": norms, "jacobian_norm": step_jacobian_norms(model, mods[0], x, caches[0])}


def step_jacobian_norms(model, layer, x, cache):
    """Spectral norm of ``∂s_t/∂s_{t-1}`` for every step, averaged over the batch.

    For sample n at step t, a batch of S copies of its one-step problem (S = H, or 2H for
    the LSTM's (h, c)) with unit upstream vectors gives the S rows of the Jacobian at once.
    """
    T, N, _ = x.shape
    H = layer.hidden_size
    w = _weights(layer)
    S = 2 * H if model == "lstm" else H
    eye = np.eye(S)
    out = np.zeros(T)
    for t in range(T):
        for n in range(N):
            xs = np.repeat(x[t:t + 1, n:n + 1], S, axis=1)             # (1, S, I)
            h = np.repeat(cache.h[t, n][None], S, axis=0)               # (S, H) state before step t
            if model == "lstm":
                c = np.repeat(cache.c[t, n][None], S, axis=0)
                _, _, _, cc = F.lstm_forward(xs, h, c, *w)
                g = F.lstm_backward(np.zeros((1, S, H)), eye[:, :H], eye[:, H:], cc)
                J = np.concatenate([g.dh0, g.dc0], axis=1)              # (S, S) rows = ∂s_t,i/∂s_{t-1}
            else:
                fwd = F.gru_forward if model == "gru" else F.rnn_forward
                cc = fwd(xs, h, *w)[2]
                bwd = F.gru_backward if model == "gru" else F.rnn_backward
                J = bwd(np.zeros((1, S, H)), eye, cc).dh0               # (S, S)
            out[t] += np.linalg.norm(J, 2) / N
    return out


def run(T=100, N=8, input_size=8, hidden=32, layers=2, seed=0, forget_bias=1.0, out=None):
    """Every model's norms, plus the LSTM with ``forget_bias`` (as "lstm_fb"; None skips it);
    with ``out`` (a folder) also a PNG plot and a JSON of the numbers.

    ValueError names a bad argument: the sizes must be integers ≥ 1, ``seed`` ≥ 0,
    ``forget_bias`` finite, ``out`` a folder (not a file).
    """
    _check_arguments(T=T, N=N, input_size=input_size, hidden=hidden, layers=layers)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0, got {seed!r}")
    if forget_bias is not None and not np.isfinite(forget_bias):
        raise ValueError(f"forget_bias must be a finite number, got {forget_bias!r}")
    if out is not None and os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"out must be a folder, and {out} is a file")
    results = {m: gradient_norms(m, T, N, input_size, hidden, layers, seed) for m in MODELS}
    if forget_bias is not None:
        results["lstm_fb"] = gradient_norms("lstm", T, N, input_size, hidden, layers, seed,
                                            forget_bias)
    if out is not None:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "gradflow.json"), "w") as f:
            json.dump({"T": T, "N": N, "input_size": input_size, "hidden": hidden,
                       "layers": layers, "seed": seed, "forget_bias": forget_bias,
                       "models": {m: {k: v.tolist() for k, v in r.items()}
                                  for m, r in results.items()}}, f)
        plot(results, os.path.join(out, "gradflow.png"), T, hidden, layers)
    return results


def _check_arguments(**sizes):
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {v!r}")


def plot(results, path, T, hidden, layers):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    colors = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green", "lstm_fb": "tab:purple"}
    names = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "lstm_fb": "LSTM, forget bias 1"}
    steps = np.arange(1, T + 1)
    for m, r in results.items():
        for k in range(layers):
            a1.semilogy(steps, r["grad_norm"][k], color=colors[m], ls=["-", "--", ":"][k % 3],
                        label=f"{names[m]}, layer {k}")
        a2.semilogy(steps, r["jacobian_norm"], color=colors[m], label=names[m])
    a1.set_xlabel(r"time step $t$ (the loss reads $h_T$)")
    a1.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    a1.set_title("gradient reaching each step")
    a2.axhline(1.0, color="gray", lw=0.8)
    a2.set_xlabel("time step t")
    a2.set_ylabel(r"$\|\partial s_t / \partial s_{t-1}\|_2$ (layer 0, batch mean)")
    a2.set_title("per-step Jacobian norm")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"Gradient flow: {layers} layers of {hidden}, T = {T}, torch's default init "
                 "(and the LSTM with its forget gate started at 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
