"""What the reference models share: the stable sigmoid, the valid-step mask, gradient tuples."""

from typing import NamedTuple, Optional

import numpy as np


def sigmoid(v):
    """Numerically stable logistic function: with q = exp(-|v|) ≤ 1, 1/(1+q) for v ≥ 0, else q/(1+q)."""
    q = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0, q) / (1.0 + q)


def valid_steps(lengths, T, N):
    """(T, N, 1) bool: True where step t (row t - 1) is within sequence s, i.e. t ≤ ℓ_s (V1)."""
    lengths = np.full(N, T) if lengths is None else np.asarray(lengths)
    return (np.arange(1, T + 1)[:, None] <= lengths[None, :])[:, :, None]


def bias_or_zero(b, size, dtype):
    """b, or zeros of ``size`` when the model has no bias (``bias=False``)."""
    return np.zeros(size, dtype) if b is None else b


class Grads(NamedTuple):
    """Gradients of one RNN or GRU layer (the fields of ``scratchrnn.functional.RNNGrads``)."""
    dx: np.ndarray                # (T, N, I)
    dh0: np.ndarray               # (N, H)
    dh: np.ndarray                # (T, N, H)  total gradient dh_t reaching each h_t
    dw_ih: np.ndarray             # (G·H, I)
    dw_hh: np.ndarray             # (G·H, H)
    db_ih: Optional[np.ndarray]   # (G·H,) or None without bias
    db_hh: Optional[np.ndarray]   # (G·H,) or None without bias


class LSTMGrads(NamedTuple):
    """Gradients of one LSTM layer (the fields of ``scratchrnn.functional.LSTMGrads``)."""
    dx: np.ndarray                # (T, N, I)
    dh0: np.ndarray               # (N, P)
    dc0: np.ndarray               # (N, H)
    dh: np.ndarray                # (T, N, P)  total gradient dh_t reaching each h_t
    dw_ih: np.ndarray             # (4H, I)
    dw_hh: np.ndarray             # (4H, P)
    db_ih: Optional[np.ndarray]   # (4H,) or None without bias
    db_hh: Optional[np.ndarray]   # (4H,) or None without bias
    dw_hr: Optional[np.ndarray] = None   # (P, H) with a projection
