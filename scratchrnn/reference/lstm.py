"""LSTM, one layer and one direction: (L1)–(L11), the projection (P1)–(P3), with (V1)–(V2).

The readable twin of ``scratchrnn.functional.lstm_forward`` / ``lstm_backward``. Gate order
i, f, g, o (torch's). With ``w_hr`` (P, H) the state is projected, h_t = m_t W_hrᵀ (P1);
without it h_t = m_t (P = H) and the lines marked (P1)–(P3) are the identity.
"""

from typing import NamedTuple, Optional

import numpy as np

from .common import LSTMGrads, bias_or_zero, sigmoid, valid_steps


class LSTMCache(NamedTuple):
    x: np.ndarray                 # (T, N, I)    x_t = x[t-1]
    h: np.ndarray                 # (T+1, N, P)  h_t = h[t], h[0] = h_0
    c: np.ndarray                 # (T+1, N, H)  c_t = c[t], c[0] = c_0
    m: np.ndarray                 # (T, N, H)    m_t = o_t ⊙ tanh(c_t) = m[t-1]
    gates: np.ndarray             # (T, N, 4H)   [i_t | f_t | g_t | o_t], post-activation
    tanh_c: np.ndarray            # (T, N, H)    tanh(c_t)
    valid: np.ndarray             # (T, N, 1)    t ≤ ℓ_s
    w_ih: np.ndarray              # (4H, I)
    w_hh: np.ndarray              # (4H, P)
    w_hr: Optional[np.ndarray]    # (P, H) or None
    has_bias: bool


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, lengths=None):
    """(L1)–(L4) and (P1) for t = 1..T. Returns (out, h_fin, c_fin, cache)."""
    T, N, _ = x.shape
    H, P = w_hh.shape[0] // 4, w_hh.shape[1]
    has_bias = b_ih is not None
    b_ih, b_hh = bias_or_zero(b_ih, 4 * H, x.dtype), bias_or_zero(b_hh, 4 * H, x.dtype)
    valid = valid_steps(lengths, T, N)                            # (T, N, 1)
    h = np.empty((T + 1, N, P), dtype=x.dtype)                    # (T+1, N, P)
    c = np.empty((T + 1, N, H), dtype=x.dtype)                    # (T+1, N, H)
    m = np.empty((T, N, H), dtype=x.dtype)                        # (T, N, H)
    gates = np.empty((T, N, 4 * H), dtype=x.dtype)                # (T, N, 4H)
    h[0], c[0] = h0, c0
    for t in range(1, T + 1):
        a_t = x[t - 1] @ w_ih.T + b_ih + b_hh + h[t - 1] @ w_hh.T  # (N, 4H)    (L1)
        a_i, a_f, a_g, a_o = np.split(a_t, 4, axis=1)              # (N, H) each, blocks of (L1)
        i_t, f_t, g_t, o_t = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)   # (L2)
        c_t = f_t * c[t - 1] + i_t * g_t                           # (N, H)     (L3)
        m[t - 1] = o_t * np.tanh(c_t)                              # (N, H)     (L4), called m_t in (P1)
        h_t = m[t - 1] if w_hr is None else m[t - 1] @ w_hr.T      # (N, P)     h_t = m_t W_hrᵀ   (P1)
        h[t] = np.where(valid[t - 1], h_t, h[t - 1])               # (N, P)     (V1) frozen past ℓ_s
        c[t] = np.where(valid[t - 1], c_t, c[t - 1])               # (N, H)     (V1)
        gates[t - 1] = np.concatenate([i_t, f_t, g_t, o_t], axis=1)   # (N, 4H)  cached for (L6)–(L9)
    tanh_c = np.tanh(c[1:])                                        # (T, N, H)  cached for (L6), (L7)
    out = np.where(valid, h[1:], 0)                                # (T, N, P)  out_t = h_t (L4), padding 0 (V1)
    cache = LSTMCache(x, h, c, m, gates, tanh_c, valid, w_ih, w_hh, w_hr, has_bias)
    return out, h[T], c[T], cache


def lstm_backward(d_out, d_h_fin, d_c_fin, cache):
    """BPTT for ``lstm_forward``: d_out (T, N, P), d_h_fin (N, P), d_c_fin (N, H). Returns ``LSTMGrads``."""
    x, h, c, m, valid, w_hh, w_hr = cache.x, cache.h, cache.c, cache.m, cache.valid, cache.w_hh, cache.w_hr
    T = x.shape[0]
    dy = np.where(valid, d_out, 0)                                 # (T, N, P)  (V2) a padded output is a constant
    da = np.empty((T, x.shape[1], cache.gates.shape[2]), x.dtype)  # (T, N, 4H) kept for (L11)
    dh = np.empty_like(dy)                                         # (T, N, P)  total dh_t, kept for (P3)
    delta, gamma = d_h_fin.copy(), d_c_fin.copy()                  # δ_T = dh_fin (L5), γ_T = dc_fin (L7)
    for t in range(T, 0, -1):
        i_t, f_t, g_t, o_t = np.split(cache.gates[t - 1], 4, axis=1)   # (N, H) each, from the forward
        tanh_c_t = cache.tanh_c[t - 1]                             # (N, H)
        dh[t - 1] = dy[t - 1] + delta                              # (N, P)     dh_t = dy_t + δ_t   (L5)
        dm_t = dh[t - 1] if w_hr is None else dh[t - 1] @ w_hr     # (N, H)     dm_t = dh_t W_hr   (P2)
        da_o = dm_t * tanh_c_t * o_t * (1 - o_t)                   # (N, H)     (L6)
        dc_t = gamma + dm_t * o_t * (1 - tanh_c_t ** 2)            # (N, H)     (L7)
        da_i = dc_t * g_t * i_t * (1 - i_t)                        # (N, H)     (L8)
        da_f = dc_t * c[t - 1] * f_t * (1 - f_t)                   # (N, H)     (L8)
        da_g = dc_t * i_t * (1 - g_t ** 2)                         # (N, H)     (L8)
        gamma = np.where(valid[t - 1], dc_t * f_t, gamma)          # (N, H)     γ_{t-1} = dc_t ⊙ f_t   (L9); (V2)
        da_t = np.concatenate([da_i, da_f, da_g, da_o], axis=1)    # (N, 4H)    da_t assembled   (L10)
        da[t - 1] = np.where(valid[t - 1], da_t, 0)                # (N, 4H)    0 past ℓ_s   (V2)
        delta = np.where(valid[t - 1], da[t - 1] @ w_hh, delta)    # (N, P)     δ_{t-1} = da_t W_hh   (L10); (V2)
    dh0, dc0 = delta, gamma                                        # dh_0 = δ_0 (L10), dc_0 = γ_0 (L9)
    dx = da @ cache.w_ih                                           # (T, N, I)  dx_t = da_t W_ih   (L11)
    dw_ih = sum(da[t - 1].T @ x[t - 1] for t in range(1, T + 1))   # (4H, I)    Σ_t da_tᵀ x_t   (L11)
    dw_hh = sum(da[t - 1].T @ h[t - 1] for t in range(1, T + 1))   # (4H, P)    Σ_t da_tᵀ h_{t-1}   (L11)
    db = da.sum(axis=(0, 1)) if cache.has_bias else None           # (4H,)      Σ_t Σ_s da_t[s]   (L11)
    dw_hr = None
    if w_hr is not None:                                           # only valid steps used W_hr (V2)
        dw_hr = sum((valid[t - 1] * dh[t - 1]).T @ m[t - 1] for t in range(1, T + 1))   # (P, H)  (P3)
    return LSTMGrads(dx, dh0, dc0, dh, dw_ih, dw_hh, db, None if db is None else db.copy(), dw_hr)
