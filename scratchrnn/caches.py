"""What a forward of ``scratchrnn.functional`` saves for its backward, and what the backward returns.

Named tuples, one field per array, with its shape; equation labels refer to
``docs/derivations.md``. ``scratchrnn.functional`` exports them all. ``saved_arrays`` names the
arrays of a cache that its backward reads and a caller can reach: those its forward fingerprints.
"""

from typing import NamedTuple, Optional

import numpy as np

from .workspace import Workspace


class RNNCache(NamedTuple):
    """What ``rnn_backward`` needs from ``rnn_forward``."""
    x: np.ndarray                 # (T, N, I)   layer input
    h: np.ndarray                 # (T+1, N, H) h[t] = h_t, h[0] = h_0 (t counted 1..T as in the maths)
    w_ih: np.ndarray              # (H, I)
    w_hh: np.ndarray              # (H, H)
    has_bias: bool
    relu: bool
    lengths: np.ndarray           # (N,) valid steps per sequence
    stamps: dict                  # fingerprints of the saved arrays (see checks.fingerprint)
    workspace: Optional[Workspace] = None   # where h (c, gates, ...) live; None: fresh arrays
    forward_number: int = 0       # this forward's number in its workspace


class RNNGrads(NamedTuple):
    dx: Optional[np.ndarray]      # (T, N, I), or None: backward(..., input_grad=False)
    dh0: np.ndarray               # (N, H)
    dh: np.ndarray                # (T, N, H)  total gradient reaching each h_t (R3)
    dw_ih: np.ndarray             # (H, I)
    dw_hh: np.ndarray             # (H, H)
    db_ih: Optional[np.ndarray]   # (H,) or None without bias
    db_hh: Optional[np.ndarray]   # (H,) or None without bias


class LSTMCache(NamedTuple):
    """What ``lstm_backward`` needs from ``lstm_forward``."""
    x: np.ndarray                 # (T, N, I)
    h: np.ndarray                 # (T+1, N, P) h[0] = h0 (P = H without a projection)
    c: np.ndarray                 # (T+1, N, H) c[0] = c0
    m: np.ndarray                 # (T, N, H)   o ⊙ tanh(c_t); the same memory as h[1:] without a projection
    gates: np.ndarray             # (T, N, 4H)  post-activation [i, f, g, o]
    tanh_c: np.ndarray            # (T, N, H)   tanh(c_t), t = 1..T
    w_ih: np.ndarray              # (4H, I)
    w_hh: np.ndarray              # (4H, P)
    w_hr: Optional[np.ndarray]    # (P, H) or None
    has_bias: bool
    lengths: np.ndarray           # (N,) valid steps per sequence
    stamps: dict                  # fingerprints of the saved arrays (see checks.fingerprint)
    workspace: Optional[Workspace] = None   # where h (c, gates, ...) live; None: fresh arrays
    forward_number: int = 0       # this forward's number in its workspace


class GRUCache(NamedTuple):
    """What ``gru_backward`` needs from ``gru_forward``."""
    x: np.ndarray                 # (T, N, I)
    h: np.ndarray                 # (T+1, N, H) h[0] = h0
    gates: np.ndarray             # (T, N, 3H)  post-activation [r, z, n]
    a_hn: np.ndarray              # (T, N, H)   a^hn_t = h_{t-1} W^n_hhᵀ + b^n_hh
    w_ih: np.ndarray              # (3H, I)
    w_hh: np.ndarray              # (3H, H)
    has_bias: bool
    lengths: np.ndarray           # (N,) valid steps per sequence
    stamps: dict                  # fingerprints of the saved arrays (see checks.fingerprint)
    workspace: Optional[Workspace] = None   # where h (c, gates, ...) live; None: fresh arrays
    forward_number: int = 0       # this forward's number in its workspace


class LSTMGrads(NamedTuple):
    dx: Optional[np.ndarray]      # (T, N, I), or None: backward(..., input_grad=False)
    dh0: np.ndarray               # (N, P)
    dc0: np.ndarray               # (N, H)
    dh: np.ndarray                # (T, N, P)  total gradient reaching each h_t (L5)
    dw_ih: np.ndarray             # (4H, I)
    dw_hh: np.ndarray             # (4H, P)
    db_ih: Optional[np.ndarray]   # (4H,) or None without bias
    db_hh: Optional[np.ndarray]   # (4H,) or None without bias
    dw_hr: Optional[np.ndarray] = None   # (P, H) with a projection (P3)


def saved_arrays(cache, states=True):
    """(name, array) pairs a backward reads from its forward's ``cache`` and a caller can reach: x,
    the weights and, with ``states``, the saved states h and c (None where the model has none).
    Each forward fingerprints these (``checks.fingerprints``); a checked one leaves the states out
    (``scratchrnn.functional``): the models return copies of what they hand out, so only their own
    next forward writes the saved states, and the workspace's count of forwards catches that
    (without a workspace, the next forward saves fresh arrays). Leaving out the fingerprints of h
    and c (four in an LSTM layer's call) took 3–4 % off an LSTM model's forward+backward at T=32
    N=1 H=32 in two runs (Intel Xeon, benchmarks/results/xeon-avx512-2026-12-07-fixed/)."""
    weights = (("w_ih", cache.w_ih), ("w_hh", cache.w_hh), ("w_hr", getattr(cache, "w_hr", None)))
    if not states:
        return (("x", cache.x),) + weights
    return (("x", cache.x), ("h", cache.h), ("c", getattr(cache, "c", None))) + weights
