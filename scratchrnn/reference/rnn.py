"""Vanilla RNN, one layer and one direction: (R1)–(R8) of docs/derivations.md, with (V1)–(V2).

The readable twin of ``scratchrnn.functional.rnn_forward`` / ``rnn_backward``: the same
numbers, one line per equation, time counted 1..T as in the document.
"""

from typing import NamedTuple

import numpy as np

from .common import Grads, bias_or_zero, valid_steps


class RNNCache(NamedTuple):
    x: np.ndarray                 # (T, N, I)    x_t = x[t-1]
    h: np.ndarray                 # (T+1, N, H)  h_t = h[t], h[0] = h_0
    valid: np.ndarray             # (T, N, 1)    t ≤ ℓ_s
    w_ih: np.ndarray              # (H, I)
    w_hh: np.ndarray              # (H, H)
    has_bias: bool
    relu: bool


def rnn_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", lengths=None):
    """h_t = φ(x_t W_ihᵀ + b_ih + b_hh + h_{t-1} W_hhᵀ). Returns (out, h_fin, cache)."""
    T, N, _ = x.shape
    H = w_hh.shape[1]
    relu, has_bias = nonlinearity == "relu", b_ih is not None
    b_ih, b_hh = bias_or_zero(b_ih, H, x.dtype), bias_or_zero(b_hh, H, x.dtype)
    valid = valid_steps(lengths, T, N)                            # (T, N, 1)
    h = np.empty((T + 1, N, H), dtype=x.dtype)                    # (T+1, N, H)
    h[0] = h0
    for t in range(1, T + 1):
        a_t = x[t - 1] @ w_ih.T + b_ih + b_hh + h[t - 1] @ w_hh.T  # (N, H)     (R1)
        h_t = np.maximum(a_t, 0) if relu else np.tanh(a_t)         # (N, H)     (R2)
        h[t] = np.where(valid[t - 1], h_t, h[t - 1])               # (N, H)     (V1) frozen past ℓ_s
    out = np.where(valid, h[1:], 0)                                # (T, N, H)  out_t = h_t (R2), padding 0 (V1)
    return out, h[T], RNNCache(x, h, valid, w_ih, w_hh, has_bias, relu)


def rnn_backward(d_out, d_h_fin, cache):
    """BPTT for ``rnn_forward``: d_out (T, N, H) = every dy_t, d_h_fin (N, H). Returns ``Grads``."""
    x, h, valid, w_ih, w_hh = cache.x, cache.h, cache.valid, cache.w_ih, cache.w_hh
    T = x.shape[0]
    dy = np.where(valid, d_out, 0)                                 # (T, N, H)  (V2) a padded output is a constant
    da = np.empty_like(dy)                                         # (T, N, H)  kept for (R6)–(R8)
    dh = np.empty_like(dy)                                         # (T, N, H)  total dh_t, kept for plots
    delta = d_h_fin.copy()                                         # (N, H)     δ_T = dh_fin   (R3)
    for t in range(T, 0, -1):
        dh[t - 1] = dy[t - 1] + delta                              # (N, H)     dh_t = dy_t + δ_t   (R3)
        dphi = (h[t] > 0) if cache.relu else 1 - h[t] ** 2         # (N, H)     φ'(a_t) read from h_t   (R4)
        da[t - 1] = np.where(valid[t - 1], dh[t - 1] * dphi, 0)    # (N, H)     da_t = dh_t ⊙ φ'   (R4); (V2)
        delta = np.where(valid[t - 1], da[t - 1] @ w_hh, delta)    # (N, H)     δ_{t-1} = da_t W_hh   (R5); (V2)
    dh0 = delta                                                    # (N, H)     dh_0 = δ_0   (R5)
    dx = da @ w_ih                                                 # (T, N, I)  dx_t = da_t W_ih   (R6)
    dw_ih = sum(da[t - 1].T @ x[t - 1] for t in range(1, T + 1))   # (H, I)     Σ_t da_tᵀ x_t   (R6)
    dw_hh = sum(da[t - 1].T @ h[t - 1] for t in range(1, T + 1))   # (H, H)     Σ_t da_tᵀ h_{t-1}   (R7)
    db = da.sum(axis=(0, 1)) if cache.has_bias else None           # (H,)       Σ_t Σ_s da_t[s]   (R8)
    return Grads(dx, dh0, dh, dw_ih, dw_hh, db, None if db is None else db.copy())   # db_ih = db_hh (R8)
