"""Cells: one time step, torch's ``RNNCell``, ``LSTMCell`` and ``GRUCell``."""

from typing import NamedTuple

import numpy as np

from scratchrnn import checks
from scratchrnn import functional as F
from scratchrnn.modules.base import Module, state_pair
from scratchrnn.registry import KINDS


class _CellCache(NamedTuple):
    layer: tuple                     # the functional cache of the one-step forward
    batched: bool
    N: int


class _CellBase(Module):
    _gates = KINDS["rnn"].gates

    def __init__(self, input_size, hidden_size, bias, dtype, seed):
        super().__init__(dtype, seed)
        self.input_size = checks.positive_int("input_size", input_size)
        self.hidden_size = checks.positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        G, H, I = self._gates, self.hidden_size, self.input_size
        shapes = [("weight_ih", (G * H, I)), ("weight_hh", (G * H, H))]
        if self.bias:
            shapes += [("bias_ih", (G * H,)), ("bias_hh", (G * H,))]
        self._init_params(shapes, 1 / np.sqrt(H))

    def _weights(self):
        p = self._params
        return p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh")

    def _step_input(self, x, states, names):
        """x (N, I) or (I,), states (N, H) or (H,) or None -> x (1, N, I), states (N, H), batched."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"input must be a numpy.ndarray, got {type(x).__name__}")
        I = self.input_size
        if x.ndim not in (1, 2):
            raise ValueError(f"expected input of shape (N, {I}) or ({I},), got {checks.shape_str(x.shape)}")
        batched = x.ndim == 2
        checks.array("input", x, self.dtype, (None, I) if batched else (I,),
                      f"(N, {I})" if batched else f"({I},)")
        x = x if batched else x[None]
        N = x.shape[0]
        if N == 0:
            raise ValueError(f"expected a non-empty batch, got input of shape (0, {I})")
        return x[None], self._batched_states(names, states, N, batched), batched

    def _batched_states(self, names, values, N, batched):
        """None -> zeros; check each (N, H) or (H,) array; return them as (N, H)."""
        shape = (N, self.hidden_size) if batched else (self.hidden_size,)
        out = []
        for name, v in zip(names, values):
            v = np.zeros(shape, self.dtype) if v is None else checks.array(name, v, self.dtype, shape)
            out.append(v if batched else v[None])
        return out

    def _step_grads(self, grads, names):
        cache = self._require_cache()
        return cache.layer, self._batched_states(names, grads, cache.N, cache.batched), cache.batched

    _PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")   # the order of a step's gradients

    def _step_accumulators(self):
        """The ``grads`` a step's backward adds into (``Module._grads_in_place``), or None."""
        return self._grads_in_place(n if n in self._params else None for n in self._PARAM_NAMES)

    def _accumulate_step(self, dparams, into):
        if into is None:                             # else the backward added them into grads
            for name, g in zip(self._PARAM_NAMES, dparams):
                self._accumulate(name, g)

    def __repr__(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}, bias={self.bias}, dtype={self.dtype})"


class _HiddenStateCell(_CellBase):
    """RNNCell and GRUCell: one step whose state is h alone."""

    def forward(self, x, hx=None):
        """x (N, I) or (I,), hx (N, H) or (H,) or None -> h' of hx's shape."""
        x, (h,), batched = self._step_input(x, (hx,), ("hx",))
        out, h_n, cache = self._step_forward(x, h)
        self._cache = _CellCache(cache, batched, h.shape[0])
        return h_n.copy() if batched else h_n[0].copy()

    def backward(self, d_h):
        """Upstream grad of h' -> (dx, dh); accumulates ``grads``."""
        cache, (d_h,), batched = self._step_grads((d_h,), ("grad of h'",))
        into = self._step_accumulators()
        g = self._step_backward(np.zeros((1,) + d_h.shape, self.dtype), d_h, cache, into)
        self._accumulate_step((g.dw_ih, g.dw_hh, g.db_ih, g.db_hh), into)
        return (g.dx[0], g.dh0) if batched else (g.dx[0, 0], g.dh0[0])


class RNNCell(_HiddenStateCell):
    """One step of the Elman RNN: ``h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)``, like torch.nn.RNNCell."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh",
                 dtype=np.float32, seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, dtype, seed)

    def _step_forward(self, x, h):
        return F.rnn_forward(x, h, *self._weights(), nonlinearity=self.nonlinearity)

    def _step_backward(self, d_out, d_h, cache, into):
        return F.rnn_backward(d_out, d_h, cache, accumulate=into)


class LSTMCell(_CellBase):
    """One LSTM step with gate order i, f, g, o, like torch.nn.LSTMCell."""

    _gates = KINDS["lstm"].gates

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__(input_size, hidden_size, bias, dtype, seed)

    def forward(self, x, hx=None):
        """x (N, I) or (I,), hx (h, c) or None -> (h', c')."""
        x, (h, c), batched = self._step_input(x, state_pair("hx", hx), ("h", "c"))
        out, h_n, c_n, cache = F.lstm_forward(x, h, c, *self._weights())
        self._cache = _CellCache(cache, batched, h.shape[0])
        return (h_n.copy(), c_n.copy()) if batched else (h_n[0].copy(), c_n[0].copy())

    def backward(self, d_hx):
        """Upstream grads of (h', c') (either None = zeros) -> (dx, (dh, dc))."""
        cache, (d_h, d_c), batched = self._step_grads(state_pair("grad of (h', c')", d_hx),
                                                      ("grad of h'", "grad of c'"))
        into = self._step_accumulators()
        g = F.lstm_backward(np.zeros((1,) + d_h.shape, self.dtype), d_h, d_c, cache, accumulate=into)
        self._accumulate_step((g.dw_ih, g.dw_hh, g.db_ih, g.db_hh), into)
        if batched:
            return g.dx[0], (g.dh0, g.dc0)
        return g.dx[0, 0], (g.dh0[0], g.dc0[0])


class GRUCell(_HiddenStateCell):
    """One GRU step with gate order r, z, n, like torch.nn.GRUCell."""

    _gates = KINDS["gru"].gates

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__(input_size, hidden_size, bias, dtype, seed)

    def _step_forward(self, x, h):
        return F.gru_forward(x, h, *self._weights())

    def _step_backward(self, d_out, d_h, cache, into):
        return F.gru_backward(d_out, d_h, cache, accumulate=into)
