"""GRU, one layer and one direction: (G1)–(G10) of docs/derivations.md, with (V1)–(V2).

The readable twin of ``scratchrnn.functional.gru_forward`` / ``gru_backward``. Gate order
r, z, n (torch's); b_hh stays in the recurrent part a^h_t, because r_t multiplies its n block
b^n_hh together with h_{t-1} W^n_hhᵀ (G3).
"""

from typing import NamedTuple

import numpy as np

from .common import Grads, bias_or_zero, sigmoid, valid_steps


class GRUCache(NamedTuple):
    x: np.ndarray                 # (T, N, I)    x_t = x[t-1]
    h: np.ndarray                 # (T+1, N, H)  h_t = h[t], h[0] = h_0
    gates: np.ndarray             # (T, N, 3H)   [r_t | z_t | n_t], post-activation
    a_hn: np.ndarray              # (T, N, H)    a^hn_t = h_{t-1} W^n_hhᵀ + b^n_hh, the term r_t multiplies
    valid: np.ndarray             # (T, N, 1)    t ≤ ℓ_s
    w_ih: np.ndarray              # (3H, I)
    w_hh: np.ndarray              # (3H, H)
    has_bias: bool


def gru_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """(G1)–(G4) for t = 1..T. Returns (out, h_fin, cache)."""
    T, N, _ = x.shape
    H = w_hh.shape[1]
    has_bias = b_ih is not None
    b_ih, b_hh = bias_or_zero(b_ih, 3 * H, x.dtype), bias_or_zero(b_hh, 3 * H, x.dtype)
    valid = valid_steps(lengths, T, N)                            # (T, N, 1)
    h = np.empty((T + 1, N, H), dtype=x.dtype)                    # (T+1, N, H)
    gates = np.empty((T, N, 3 * H), dtype=x.dtype)                # (T, N, 3H)
    a_hn = np.empty((T, N, H), dtype=x.dtype)                     # (T, N, H)
    h[0] = h0
    for t in range(1, T + 1):
        a_x = x[t - 1] @ w_ih.T + b_ih                             # (N, 3H)    input part a^x_t   (G1)
        a_h = h[t - 1] @ w_hh.T + b_hh                             # (N, 3H)    recurrent part a^h_t   (G1)
        a_xr, a_xz, a_xn = np.split(a_x, 3, axis=1)                # (N, H) each, blocks of (G1)
        a_hr, a_hz, a_hn[t - 1] = np.split(a_h, 3, axis=1)         # (N, H) each, blocks of (G1)
        r_t = sigmoid(a_xr + a_hr)                                 # (N, H)     (G2)
        z_t = sigmoid(a_xz + a_hz)                                 # (N, H)     (G2)
        n_t = np.tanh(a_xn + r_t * a_hn[t - 1])                    # (N, H)     (G3)
        h_t = (1 - z_t) * n_t + z_t * h[t - 1]                     # (N, H)     (G4)
        h[t] = np.where(valid[t - 1], h_t, h[t - 1])               # (N, H)     (V1) frozen past ℓ_s
        gates[t - 1] = np.concatenate([r_t, z_t, n_t], axis=1)     # (N, 3H)    cached for (G6)–(G9)
    out = np.where(valid, h[1:], 0)                                # (T, N, H)  out_t = h_t (G4), padding 0 (V1)
    return out, h[T], GRUCache(x, h, gates, a_hn, valid, w_ih, w_hh, has_bias)


def gru_backward(d_out, d_h_fin, cache):
    """BPTT for ``gru_forward``: d_out (T, N, H) = every dy_t, d_h_fin (N, H). Returns ``Grads``."""
    x, h, valid, w_hh = cache.x, cache.h, cache.valid, cache.w_hh
    T = x.shape[0]
    dy = np.where(valid, d_out, 0)                                 # (T, N, H)  (V2) a padded output is a constant
    da_x = np.empty((T,) + cache.gates.shape[1:], x.dtype)         # (T, N, 3H) kept for (G10)
    da_h = np.empty_like(da_x)                                     # (T, N, 3H) kept for (G10)
    dh = np.empty_like(dy)                                         # (T, N, H)  total dh_t, kept for plots
    delta = d_h_fin.copy()                                         # (N, H)     δ_T = dh_fin   (G5)
    for t in range(T, 0, -1):
        r_t, z_t, n_t = np.split(cache.gates[t - 1], 3, axis=1)    # (N, H) each, from the forward
        dh[t - 1] = dy[t - 1] + delta                              # (N, H)     dh_t = dy_t + δ_t   (G5)
        dn_t = dh[t - 1] * (1 - z_t)                               # (N, H)     (G6)
        dz_t = dh[t - 1] * (h[t - 1] - n_t)                        # (N, H)     (G6)
        da_xn = dn_t * (1 - n_t ** 2)                              # (N, H)     (G7)
        da_hn = da_xn * r_t                                        # (N, H)     (G7)
        dr_t = da_xn * cache.a_hn[t - 1]                           # (N, H)     (G7)
        da_r = dr_t * r_t * (1 - r_t)                              # (N, H)     (G8)
        da_z = dz_t * z_t * (1 - z_t)                              # (N, H)     (G8)
        da_x[t - 1] = np.where(valid[t - 1], np.concatenate([da_r, da_z, da_xn], axis=1), 0)   # da^x_t (G8), (V2)
        da_h[t - 1] = np.where(valid[t - 1], np.concatenate([da_r, da_z, da_hn], axis=1), 0)   # da^h_t (G8), (V2)
        delta = np.where(valid[t - 1], dh[t - 1] * z_t + da_h[t - 1] @ w_hh, delta)   # (G9); (V2)
    dh0 = delta                                                    # (N, H)     dh_0 = δ_0   (G9)
    dx = da_x @ cache.w_ih                                         # (T, N, I)  dx_t = da^x_t W_ih   (G10)
    dw_ih = sum(da_x[t - 1].T @ x[t - 1] for t in range(1, T + 1))  # (3H, I)   Σ_t (da^x_t)ᵀ x_t   (G10)
    dw_hh = sum(da_h[t - 1].T @ h[t - 1] for t in range(1, T + 1))  # (3H, H)   Σ_t (da^h_t)ᵀ h_{t-1}   (G10)
    db_ih = da_x.sum(axis=(0, 1)) if cache.has_bias else None      # (3H,)      Σ_t Σ_s da^x_t[s]   (G10)
    db_hh = da_h.sum(axis=(0, 1)) if cache.has_bias else None      # (3H,)      Σ_t Σ_s da^h_t[s]   (G10)
    return Grads(dx, dh0, dh, dw_ih, dw_hh, db_ih, db_hh)
