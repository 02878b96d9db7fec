"""A correct CS231n-style ``rnn_layers``: the functions ``scratchrnn check --cs231n`` knows.

CS231n's layout: batch-first x (N, T, D), Wx (D, G·H), Wh (H, G·H), b (G·H,), h (N, T, H);
LSTM gate order i, f, o, g. Each ``*_forward`` returns ``(out, cache)``, each ``*_backward``
takes the upstream gradient and that cache. ``scratchrnn check --cs231n tests.buggy.cs231n_ok``
passes every case it can express; the gallery (``tests/buggy/gallery.py``) breaks one line each.
"""

from typing import NamedTuple

import numpy as np


def sigmoid(x):
    """Numerically stable sigmoid: the exponent is never positive."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class RNNStep(NamedTuple):
    x: np.ndarray            # (N, D)
    prev_h: np.ndarray       # (N, H)
    Wx: np.ndarray           # (D, H)
    Wh: np.ndarray           # (H, H)
    a: np.ndarray            # (N, H) pre-activation
    next_h: np.ndarray       # (N, H)


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    a = x @ Wx + prev_h @ Wh + b                    # (N, H) pre-activation
    next_h = np.tanh(a)                             # (N, H)
    return next_h, RNNStep(x, prev_h, Wx, Wh, a, next_h)


def rnn_step_backward(dnext_h, cache):
    da = dnext_h * (1 - cache.next_h ** 2)          # backprop through tanh, from its output
    dx = da @ cache.Wx.T                            # (N, D)
    dprev_h = da @ cache.Wh.T                       # (N, H)
    dWx = cache.x.T @ da                            # (D, H)
    dWh = cache.prev_h.T @ da                       # (H, H)
    db = da.sum(axis=0)                             # (H,)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), x.dtype)      # (N, T, H)
    caches, prev_h = [], h0
    for t in range(T):
        prev_h, cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(cache)
    return h, caches


def rnn_backward(dh, caches):
    N, T, H = dh.shape
    dx = np.zeros((N, T, caches[0].x.shape[1]), dh.dtype)   # (N, T, D)
    dWx, dWh, db = np.zeros_like(caches[0].Wx), np.zeros_like(caches[0].Wh), np.zeros(H)
    dprev_h = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, caches[t])
        dWx += dWx_t                                # weights are shared over time: sum
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


class LSTMStep(NamedTuple):
    x: np.ndarray            # (N, D)
    prev_h: np.ndarray       # (N, H)
    prev_c: np.ndarray       # (N, H)
    Wx: np.ndarray           # (D, 4H)
    Wh: np.ndarray           # (H, 4H)
    i: np.ndarray            # (N, H) gates, post-activation
    f: np.ndarray
    o: np.ndarray
    g: np.ndarray
    next_c: np.ndarray       # (N, H)
    tanh_c: np.ndarray       # (N, H)


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b                    # (N, 4H) gates in the order i, f, o, g
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g                     # (N, H)
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c                             # (N, H)
    return next_h, next_c, LSTMStep(x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c, tanh_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    i, f, o, g = cache.i, cache.f, cache.o, cache.g
    do = dnext_h * cache.tanh_c
    dc = dnext_c + dnext_h * o * (1 - cache.tanh_c ** 2)     # both paths into c_t
    di, df, dg = dc * g, dc * cache.prev_c, dc * i
    dprev_c = dc * f
    dai, daf, dao = di * i * (1 - i), df * f * (1 - f), do * o * (1 - o)
    dag = dg * (1 - g ** 2)
    da = np.hstack((dai, daf, dao, dag))            # (N, 4H) in the order i, f, o, g
    dx = da @ cache.Wx.T                            # (N, D)
    dprev_h = da @ cache.Wh.T                       # (N, H)
    dWx = cache.x.T @ da                            # (D, 4H)
    dWh = cache.prev_h.T @ da                       # (H, 4H)
    db = da.sum(axis=0)                             # (4H,)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), x.dtype)      # (N, T, H)
    caches, prev_h, prev_c = [], h0, np.zeros_like(h0)       # CS231n: the cell starts at 0
    for t in range(T):
        prev_h, prev_c, cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(cache)
    return h, caches


def lstm_backward(dh, caches):
    N, T, H = dh.shape
    dx = np.zeros((N, T, caches[0].x.shape[1]), dh.dtype)   # (N, T, D)
    dWx, dWh, db = np.zeros_like(caches[0].Wx), np.zeros_like(caches[0].Wh), np.zeros(4 * H)
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


def temporal_softmax_loss(x, y, mask):
    """x (N, T, V) scores, y (N, T) targets, mask (N, T) -> (loss summed over masked steps / N, dx)."""
    N, T, V = x.shape
    x_flat, y_flat, mask_flat = x.reshape(N * T, V), y.reshape(N * T), mask.reshape(N * T)
    shifted = x_flat - np.max(x_flat, axis=1, keepdims=True)             # (N·T, V) max is 0
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.sum(mask_flat * log_probs[np.arange(N * T), y_flat]) / N
    dx_flat = np.exp(log_probs)                                          # softmax
    dx_flat[np.arange(N * T), y_flat] -= 1
    dx_flat *= mask_flat[:, None] / N
    return loss, dx_flat.reshape(N, T, V)
