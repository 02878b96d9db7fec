"""Stacked layers and both directions: (S1)–(S5) of docs/derivations.md, on the reference layers.

The readable twin of the composition in ``scratchrnn.modules`` (``RNN``, ``LSTM``, ``GRU``),
time-major only. Parameters are a torch-style ``state_dict`` (``weight_ih_l{k}``,
``bias_hh_l{k}_reverse``, ``weight_hr_l{k}``, …): its keys give the number of layers K, the
directions D and whether there are biases or a projection. States are (D·K, N, ·) arrays, row
idx = k·D + d for layer k and direction d (0 forward, 1 reverse) (S5).
"""

from typing import NamedTuple

import numpy as np

from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward

KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


class StackCache(NamedTuple):
    kind: str
    layers: list                  # [k][d] the layer caches
    masks: list                   # [k] dropout mask m/(1-p) after layer k, or None   (S4)
    rev: np.ndarray               # (T, N) time index reversing each sequence within its length (S2)


def stack_forward(kind, params, x, states, lengths=None, masks=None):
    """Run K layers in D directions. kind: one of ``KINDS``; x (T, N, I); states: (h_0,) or
    (h_0, c_0) for the LSTM, each (D·K, N, ·); masks: per layer k < K-1 the scaled dropout mask
    m/(1-p) of its output (S4), or None for no dropout. Returns (out (T, N, D·P), finals, cache)."""
    K, D = _layers_and_directions(params)
    T, N, _ = x.shape
    rev = _reversal(lengths, T, N)                                 # (T, N)     (S2)
    finals = tuple(np.empty_like(s) for s in states)               # each (D·K, N, ·)
    caches, used_masks, layer_in = [], [], x                       # layer_in: x^(k), (T, N, I or D·P)
    for k in range(K):
        outs, caches_k = [], []
        for d in range(D):
            idx = k * D + d                                        # row of h_0, h_fin, c_0, c_fin   (S5)
            x_kd = layer_in if d == 0 else _flip(layer_in, rev)    # F x for the reverse direction   (S2)
            out, fins, cache = _forward(kind, x_kd, tuple(s[idx] for s in states), _weights(params, k, d), lengths)
            outs.append(out if d == 0 else _flip(out, rev))        # out^← = F h̃, aligned with x_t   (S2)
            for final, f in zip(finals, fins):
                final[idx] = f                                     # h_fin[idx] = h_T of (k, d)   (S5)
            caches_k.append(cache)
        layer_out = np.concatenate(outs, axis=2)                   # (T, N, D·P)  [out^→ | out^←]   (S1), (S3)
        mask = masks[k] if masks is not None and k < K - 1 else None
        layer_in = layer_out if mask is None else layer_out * mask  # x^(k+1) = drop(out^(k))   (S1), (S4)
        caches.append(caches_k)
        used_masks.append(mask)
    return layer_in, finals, StackCache(kind, caches, used_masks, rev)


def stack_backward(d_out, d_finals, cache):
    """Backward of ``stack_forward``: d_out (T, N, D·P), d_finals like its finals.
    Returns (dx (T, N, I), initial-state gradients like states, {parameter name: gradient})."""
    K, D = len(cache.layers), len(cache.layers[0])
    P = d_out.shape[2] // D
    d_starts = tuple(np.empty_like(g) for g in d_finals)           # dh_0 (and dc_0), (D·K, N, ·)
    grads = {}
    d_layer_out = d_out                                            # d out^(K-1) = d out   (S1)
    for k in reversed(range(K)):
        if cache.masks[k] is not None:
            d_layer_out = d_layer_out * cache.masks[k]             # drop^T: dx = dy ⊙ m/(1-p)   (S4)
        d_in = 0
        for d in range(D):
            idx = k * D + d                                        # (S5)
            dy_d = d_layer_out[:, :, d * P:(d + 1) * P]            # (T, N, P)  this direction's half   (S3)
            dy_d = dy_d if d == 0 else _flip(dy_d, cache.rev)      # d ỹ = F dy^←   (S2)
            g = _backward(cache.kind, dy_d, tuple(f[idx] for f in d_finals), cache.layers[k][d])   # δ_T = dh_fin[idx] (S5)
            d_in = d_in + (g.dx if d == 0 else _flip(g.dx, cache.rev))   # dx = dx^→ + F dx̃^←   (S2), (S3)
            for d_start, g0 in zip(d_starts, (g.dh0, g.dc0) if cache.kind == "lstm" else (g.dh0,)):
                d_start[idx] = g0                                  # dh_0[idx] = δ_0, dc_0[idx] = γ_0   (S5)
            sfx = f"_l{k}" + ("_reverse" if d else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
                value = getattr(g, "d" + name.replace("weight", "w").replace("bias", "b"), None)
                if value is not None:
                    grads[name + sfx] = value
        d_layer_out = d_in                                         # d out^(k-1) = drop^T(dx^(k))   (S1)
    return d_layer_out, d_starts, grads


def _layers_and_directions(params):
    K = sum(name.startswith("weight_ih_l") and not name.endswith("_reverse") for name in params)
    return K, 2 if "weight_ih_l0_reverse" in params else 1


def _weights(params, k, d):
    sfx = f"_l{k}" + ("_reverse" if d else "")
    return {name: params.get(name + sfx) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")}


def _forward(kind, x, states, w, lengths):
    """One layer, one direction: (out, final states, cache)."""
    args = (w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"])
    if kind == "lstm":
        out, h_fin, c_fin, cache = lstm_forward(x, *states, *args, w_hr=w["weight_hr"], lengths=lengths)
        return out, (h_fin, c_fin), cache
    if kind == "gru":
        out, h_fin, cache = gru_forward(x, *states, *args, lengths=lengths)
    else:
        out, h_fin, cache = rnn_forward(x, *states, *args, nonlinearity=kind.split("_")[1], lengths=lengths)
    return out, (h_fin,), cache


def _backward(kind, d_out, d_finals, cache):
    if kind == "lstm":
        return lstm_backward(d_out, *d_finals, cache)
    return (gru_backward if kind == "gru" else rnn_backward)(d_out, *d_finals, cache)


def _reversal(lengths, T, N):
    """(T, N) index: step t of sequence s reads ℓ_s + 1 - t within its length; padding stays put (S2)."""
    lengths = np.full(N, T) if lengths is None else np.asarray(lengths)
    t = np.arange(T)[:, None]                                      # 0-based row t - 1
    return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)


def _flip(a, rev):
    """F: time-reverse each sequence of a (T, N, ·) array within its own length (its own inverse) (S2)."""
    return a[rev, np.arange(a.shape[1])[None, :]]
