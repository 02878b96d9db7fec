"""Modules: stacking, directions, batch_first, dropout and torch's parameter names.

``RNN`` and ``LSTM`` compose the one-layer, one-direction pairs of
``scratchrnn.functional`` into a stacked, optionally bidirectional network,
exactly as ``torch.nn.RNN``/``torch.nn.LSTM`` do (equations (S1)–(S5) of
``docs/derivations.md``). Objects hold parameters, gradients and the cache of
the last forward — nothing that counts time steps.

    >>> import numpy as np, scratchrnn as sr
    >>> m = sr.LSTM(3, 5, num_layers=2, bidirectional=True, seed=0)
    >>> x = np.ones((7, 2, 3), dtype=np.float32)                  # (T, N, I)
    >>> out, (h_n, c_n) = m(x)
    >>> out.shape, h_n.shape, c_n.shape                           # (T, N, D·H), (D·L, N, H)
    ((7, 2, 10), (4, 2, 5), (4, 2, 5))
    >>> dx, (dh0, dc0) = m.backward(np.ones_like(out))
    >>> dx.shape, sorted(m.grads)[:2]
    ((7, 2, 3), ['bias_hh_l0', 'bias_hh_l0_reverse'])
"""

import numbers
import warnings
from typing import NamedTuple

import numpy as np

from . import _checks
from . import functional as F


class _Module:
    """Parameters (``state_dict`` order = torch's), gradients that accumulate, train/eval."""

    def __init__(self, dtype, seed):
        self.dtype = _checks.as_float_dtype(dtype)
        # One generator per module: it draws the initial weights, then the dropout masks.
        # Replace it (``m.generator = np.random.default_rng(s)``) to replay masks.
        self.generator = np.random.default_rng(seed)
        self._params = {}
        self.grads = {}
        self.training = True
        self._cache = None

    def _init_params(self, shapes, bound):
        """Register parameters in torch's order, each U(-bound, bound) from the generator."""
        for name, shape in shapes:
            w = self.generator.uniform(-bound, bound, size=shape)
            self._params[name] = np.ascontiguousarray(w, dtype=self.dtype)
            self.grads[name] = np.zeros(shape, dtype=self.dtype)

    # -- parameters ---------------------------------------------------------
    def named_parameters(self):
        """(name, array) pairs of the live parameters; optimizers update them in place."""
        return list(self._params.items())

    def state_dict(self):
        """name -> copy of the parameter, torch's names and shapes."""
        return {k: v.copy() for k, v in self._params.items()}

    def load_state_dict(self, state):
        """Copy parameters in from NumPy arrays or torch tensors with exactly our keys and shapes."""
        if not hasattr(state, "keys"):
            raise TypeError(f"state must be a mapping of name -> array, got {type(state).__name__}")
        missing = [k for k in self._params if k not in state]
        extra = [k for k in state if k not in self._params]
        if missing or extra:
            raise ValueError(f"state_dict keys do not match: missing {missing}, unexpected {extra}")
        new = {}
        for k, v in state.items():
            if hasattr(v, "detach"):                 # a torch tensor; no torch import needed
                v = v.detach().cpu()
                if v.is_floating_point():            # bfloat16 has no NumPy dtype; float64 holds them all
                    v = v.double()
                v = v.numpy()
            try:
                v = np.asarray(v)
            except (ValueError, TypeError) as e:     # e.g. a ragged nested list
                raise TypeError(f"expected {k} to be an array of shape "
                                f"{_checks.shape_str(self._params[k].shape)}, got a {type(v).__name__} "
                                f"that NumPy cannot make into one ({e})") from None
            if v.shape != self._params[k].shape:
                raise ValueError(f"expected {k} of shape {_checks.shape_str(self._params[k].shape)}, "
                                 f"got {_checks.shape_str(v.shape)}")
            if not np.issubdtype(v.dtype, np.floating):
                raise TypeError(f"expected {k} to hold floating-point values, got dtype {v.dtype}")
            _checks.finite(k, v)
            with np.errstate(over="ignore"):
                cast = v.astype(self.dtype)
            if not np.isfinite(cast).all():          # finite in float64, inf once cast to float32
                bad = tuple(int(i) for i in np.argwhere(~np.isfinite(cast))[0])
                raise ValueError(f"{k} value {float(v[bad])!r} at index {bad} overflows {self.dtype}")
            new[k] = cast
        for k, v in new.items():                     # all checked first: a bad dict changes nothing
            self._params[k][...] = v

    def zero_grad(self):
        for g in self.grads.values():
            g.fill(0)

    def _accumulate(self, name, g):
        if g is not None:
            self.grads[name] += g                    # shared weights: gradients add up, like torch

    # -- modes -------------------------------------------------------------------
    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _require_cache(self):
        if self._cache is None:
            raise ValueError(f"{type(self).__name__}.backward() called before forward(): "
                             "there is no forward pass to differentiate")
        return self._cache


class _LayerCache(NamedTuple):
    caches: list                     # [layer][direction] -> functional cache
    rev: object                      # (T, N) per-sequence reversal index, or None (plain [::-1])
    masks: list                      # [layer] -> dropout mask applied to the layer's output, or None
    batched: bool
    out_shape: tuple                 # user-facing shape of ``out``
    state_shapes: tuple              # user-facing shapes of ``h_n`` (and ``c_n``)


class _RNNBase(_Module):
    """Shared machinery of RNN and LSTM: layers × directions, layouts, dropout, checks."""

    _gates = 1            # G
    _n_states = 1         # 1: (h,), 2: (h, c)

    def __init__(self, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, dtype, seed):
        super().__init__(dtype, seed)
        self.input_size = _checks.positive_int("input_size", input_size)
        self.hidden_size = _checks.positive_int("hidden_size", hidden_size)
        self.num_layers = _checks.positive_int("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = _checks.dropout_prob(dropout)
        self.bidirectional = bool(bidirectional)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn("dropout acts between layers: with num_layers=1 it does nothing "
                          f"(got dropout={self.dropout})", stacklevel=3)
        G, H, P, D = self._gates, self.hidden_size, self._out_size, self.num_directions
        shapes = []
        for k in range(self.num_layers):
            I_k = self.input_size if k == 0 else D * P
            for sfx in self._suffixes:
                shapes += [(f"weight_ih_l{k}{sfx}", (G * H, I_k)), (f"weight_hh_l{k}{sfx}", (G * H, P))]
                if self.bias:
                    shapes += [(f"bias_ih_l{k}{sfx}", (G * H,)), (f"bias_hh_l{k}{sfx}", (G * H,))]
                if P != H:                                   # LSTM projection, after the biases
                    shapes += [(f"weight_hr_l{k}{sfx}", (P, H))]
        self._init_params(shapes, 1 / np.sqrt(H))

    @property
    def _out_size(self):
        """Features of h and of each direction's output: proj_size for a projected LSTM, else H."""
        return self.hidden_size

    @property
    def _state_sizes(self):
        """Features of each state, in ``_state_names`` order."""
        return (self._out_size,)

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def _suffixes(self):
        return ("", "_reverse")[: self.num_directions]

    def _weights(self, k, d):
        """(w_ih, w_hh, b_ih, b_hh[, w_hr]) of layer k, direction d; biases None without bias."""
        sfx = self._suffixes[d]
        p = self._params
        w = (p[f"weight_ih_l{k}{sfx}"], p[f"weight_hh_l{k}{sfx}"],
             p.get(f"bias_ih_l{k}{sfx}"), p.get(f"bias_hh_l{k}{sfx}"))
        return w + ((p[f"weight_hr_l{k}{sfx}"],) if f"weight_hr_l{k}{sfx}" in p else ())

    def _check_lengths(self, lengths, T, N, batched):
        """None, or (N,) integers in 1..T: each sequence's own length (padding after it)."""
        if lengths is None:
            return None
        if not batched:
            raise ValueError("lengths needs batched input (T, N, I); got unbatched (T, I)")
        a = np.asarray(lengths)
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"expected integer lengths, got dtype {a.dtype}")
        if a.shape != (N,):
            raise ValueError(f"expected lengths of shape ({N},), got {_checks.shape_str(a.shape)}")
        if a.min() < 1 or a.max() > T:
            bad = a[(a < 1) | (a > T)][0]
            raise ValueError(f"lengths must be in 1..{T} (the padded length), got {bad}")
        return a.astype(np.int64)

    @staticmethod
    def _reversal(lengths, T, N):
        """(T, N) index that reverses each sequence within its own length (its own inverse)."""
        t = np.arange(T)[:, None]
        return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)

    @staticmethod
    def _flip(a, rev):
        """Time-reverse a (T, N, F) array: plainly, or each sequence within its length (S2)."""
        return a[::-1] if rev is None else a[rev, np.arange(a.shape[1])[None, :]]

    # -- one layer, one direction: filled in by RNN, LSTM and GRU ----------------
    def _layer_forward(self, x, states, weights, lengths):
        """-> (out (T, N, H), final states tuple, cache)"""
        raise NotImplementedError

    def _layer_backward(self, d_out, d_states, cache):
        """-> (dx, initial-state grads tuple, (dw_ih, dw_hh, db_ih, db_hh))"""
        raise NotImplementedError

    # -- layouts and checks --------------------------------------------------
    def _time_major_input(self, x):
        """Check x; return it as (T, N, I) (a view) and whether it was batched."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"input must be a numpy.ndarray, got {type(x).__name__}")
        I = self.input_size
        batched_doc = f"(N, T, {I})" if self.batch_first else f"(T, N, {I})"
        if x.ndim not in (2, 3):
            raise ValueError(f"expected input of shape {batched_doc} or (T, {I}) unbatched, "
                             f"got {_checks.shape_str(x.shape)}")
        batched = x.ndim == 3
        doc = batched_doc if batched else f"(T, {I})"
        _checks.array("input", x, self.dtype, (None,) * (x.ndim - 1) + (I,), doc)
        if x.size == 0:
            raise ValueError(f"expected a non-empty sequence and batch, got input of shape "
                             f"{_checks.shape_str(x.shape)}")
        if not batched:
            return x[:, None, :], False              # (T, N=1, I)
        return (x.transpose(1, 0, 2) if self.batch_first else x), True   # (T, N, I)

    def _state_shapes(self, N, batched):
        """User-facing shape of each state: (D·L, N, size) batched, (D·L, size) unbatched."""
        L_D = self.num_layers * self.num_directions
        return tuple((L_D, N, F) if batched else (L_D, F) for F in self._state_sizes)

    def _check_states(self, names, states, N, batched):
        """None -> zeros; else check each state's shape; return tuple of (L·D, N, size) arrays."""
        out = []
        for name, s, shape in zip(names, states, self._state_shapes(N, batched)):
            if s is None:
                out.append(np.zeros(shape, dtype=self.dtype))
            else:                                    # e.g. (D·num_layers=4, 2, 5)
                doc = f"(D·num_layers={shape[0]}" + "".join(f", {d}" for d in shape[1:]) + ")"
                _checks.array(name, s, self.dtype, shape, doc)
                out.append(s)
        return tuple(s if batched else s[:, None, :] for s in out)

    # -- the composition (S1)–(S5) ---------------------------------------------
    def _forward_states(self, x, hx_states, lengths=None):
        x, batched = self._time_major_input(x)
        T, N, _ = x.shape
        lengths = self._check_lengths(lengths, T, N, batched)
        states = self._check_states(self._state_names, hx_states, N, batched)
        rev = None if lengths is None else self._reversal(lengths, T, N)   # (T, N)
        D = self.num_directions
        finals = [np.empty_like(s) for s in states]  # each (L·D, N, size)
        caches, masks = [], []
        layer_in = x                                  # (T, N, I_k)
        for k in range(self.num_layers):
            outs, layer_caches = [], []
            for d in range(D):
                idx = k * D + d                      # (S5)
                xin = layer_in if d == 0 else self._flip(layer_in, rev)  # (S2) reverse time
                out, s_n, cache = self._layer_forward(xin, tuple(s[idx] for s in states),
                                                      self._weights(k, d), lengths)
                outs.append(out if d == 0 else self._flip(out, rev))   # (S2) align with x_t
                for f, s in zip(finals, s_n):
                    f[idx] = s
                layer_caches.append(cache)
            layer_out = outs[0].copy() if D == 1 else np.concatenate(outs, axis=2)  # (T, N, D·P) (S1)
            mask = None
            if k < self.num_layers - 1 and self.training and self.dropout > 0:
                keep = 1.0 - self.dropout
                mask = self.generator.random(layer_out.shape) < keep  # (T, N, D·H) (S4)
                mask = (mask / keep if keep > 0 else mask).astype(self.dtype)  # p = 1: all zeros, not 0/0
                layer_out *= mask
            caches.append(layer_caches)
            masks.append(mask)
            layer_in = layer_out
        out = layer_in                                # (T, N, D·H)
        if batched and self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))         # (N, T, D·H)
        if not batched:
            out = out[:, 0, :]                       # (T, D·H)
            finals = [f[:, 0, :] for f in finals]    # (L·D, H)
        self._cache = _LayerCache(caches, rev, masks, batched, out.shape, tuple(f.shape for f in finals))
        return out, tuple(finals)

    def _backward_states(self, d_out, d_finals):
        cache = self._require_cache()
        _checks.array("grad of output", d_out, self.dtype, cache.out_shape)
        d_finals = [np.zeros(shape, self.dtype) if g is None
                    else _checks.array(f"grad of {n}", g, self.dtype, shape)
                    for n, g, shape in zip(self._state_final_names, d_finals, cache.state_shapes)]
        if not cache.batched:
            d_out = d_out[:, None, :]
            d_finals = [g[:, None, :] for g in d_finals]
        elif self.batch_first:
            d_out = d_out.transpose(1, 0, 2)         # (T, N, D·P)
        D, P = self.num_directions, self._out_size
        d_starts = [np.empty_like(g) for g in d_finals]   # grads of the initial states
        d_layer_out = d_out                          # (T, N, D·P)
        for k in reversed(range(self.num_layers)):
            if cache.masks[k] is not None:
                d_layer_out = d_layer_out * cache.masks[k]             # (S4)
            d_in = None
            for d in range(D):
                idx = k * D + d
                d_o = d_layer_out[:, :, d * P:(d + 1) * P]             # (T, N, P) this direction's half (S3)
                d_o = d_o if d == 0 else self._flip(d_o, cache.rev)    # (S2)
                dx, d_s0, dparams = self._layer_backward(
                    d_o, tuple(g[idx] for g in d_finals), cache.caches[k][d])
                dx = dx if d == 0 else self._flip(dx, cache.rev)       # (S2)
                d_in = dx if d_in is None else d_in + dx               # (S3) input fans out to both
                for g0, g in zip(d_starts, d_s0):
                    g0[idx] = g
                sfx = self._suffixes[d]
                for name, g in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"),
                                   dparams):
                    self._accumulate(f"{name}_l{k}{sfx}", g)
            d_layer_out = d_in                       # (S1) dx of layer k is d_out of layer k-1
        dx = d_layer_out                             # (T, N, I)
        if not cache.batched:
            return dx[:, 0, :], tuple(g[:, 0, :] for g in d_starts)
        if self.batch_first:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))           # (N, T, I)
        return dx, tuple(d_starts)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                              ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s + f", dtype={self.dtype}"

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class _HiddenStateRNN(_RNNBase):
    """RNN and GRU: the state is h alone."""

    _state_names = ("h0",)
    _state_final_names = ("h_n",)

    def forward(self, x, hx=None, lengths=None):
        """x (T, N, I) | (N, T, I) with batch_first | (T, I); hx (D·L, N, H) or None -> (out, h_n).

        ``lengths`` (N,), 1..T: each sequence's own length, as torch's packed sequences; h_n is
        taken at each sequence's own end and padded outputs are 0.
        """
        out, (h_n,) = self._forward_states(x, (hx,), lengths)
        return out, h_n

    def backward(self, d_out, d_h_n=None):
        """Upstream grads of ``out`` and ``h_n`` (None = zeros) -> (dx, dh0); accumulates ``grads``."""
        dx, (dh0,) = self._backward_states(d_out, (d_h_n,))
        return dx, dh0


class RNN(_HiddenStateRNN):
    """Elman RNN, ``h_t = φ(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)``, φ = tanh or relu.

    Same constructor, parameters, shapes and initialisation as ``torch.nn.RNN``.
    ``out, h_n = m(x, h0)``; ``dx, dh0 = m.backward(d_out, d_h_n)``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed)

    def _layer_forward(self, x, states, weights, lengths):
        out, h_n, cache = F.rnn_forward(x, states[0], *weights, nonlinearity=self.nonlinearity,
                                        lengths=lengths)
        return out, (h_n,), cache

    def _layer_backward(self, d_out, d_states, cache):
        g = F.rnn_backward(d_out, d_states[0], cache)
        return g.dx, (g.dh0,), (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class LSTM(_RNNBase):
    """LSTM with torch's equations and gate order i, f, g, o.

    Same constructor, parameters, shapes and initialisation as ``torch.nn.LSTM``.
    ``out, (h_n, c_n) = m(x, (h0, c0))``; ``dx, (dh0, dc0) = m.backward(d_out, (d_h_n, d_c_n))``.
    With ``proj_size = P`` (0 < P < H) every step's ``o ⊙ tanh(c_t)`` is projected by
    ``weight_hr_l{k}`` (P, H): h, h0, h_n and each direction's output have P features, c keeps H.
    """

    _gates = 4
    _state_names = ("h0", "c0")
    _state_final_names = ("h_n", "c_n")

    @property
    def _out_size(self):
        return self.proj_size or self.hidden_size

    @property
    def _state_sizes(self):
        return (self._out_size, self.hidden_size)       # h has P features, c keeps H

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=np.float32, seed=None,
                 forget_bias=None):
        """``forget_bias``: if given (e.g. 1.0), every layer and direction starts with this
        forget-gate bias: ``bias_ih``'s forget block is set to it and ``bias_hh``'s to 0, so
        that their sum, which is what enters the gate (L1), equals it. None keeps torch's init.
        """
        if isinstance(proj_size, bool) or not isinstance(proj_size, numbers.Integral) or proj_size < 0:
            raise ValueError(f"proj_size must be a non-negative integer, got {proj_size!r}")
        if isinstance(hidden_size, numbers.Integral) and proj_size >= hidden_size > 0:
            raise ValueError(f"proj_size must be smaller than hidden_size, got proj_size={proj_size} "
                             f"and hidden_size={hidden_size}")
        if forget_bias is not None:
            if isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real) \
                    or not np.isfinite(forget_bias):
                raise ValueError(f"forget_bias must be a finite number or None, got {forget_bias!r}")
            if not bias:
                raise ValueError("forget_bias needs bias=True: there is no bias to initialise")
        self.proj_size = int(proj_size)
        self.forget_bias = forget_bias
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed)
        if forget_bias is not None:
            H = self.hidden_size
            for name, b in self._params.items():
                if name.startswith("bias_ih"):
                    b[H:2 * H] = forget_bias             # gate order i, f, g, o
                elif name.startswith("bias_hh"):
                    b[H:2 * H] = 0

    def forward(self, x, hx=None, lengths=None):
        """x (T, N, I) | (N, T, I) with batch_first | (T, I); hx (h0, c0) or None -> (out, (h_n, c_n)).

        ``lengths`` as in ``RNN.forward``.
        """
        out, (h_n, c_n) = self._forward_states(x, _pair("hx", hx), lengths)
        return out, (h_n, c_n)

    def backward(self, d_out, d_hx=None):
        """Upstream grads of ``out`` and ``(h_n, c_n)`` (None = zeros) -> (dx, (dh0, dc0))."""
        dx, (dh0, dc0) = self._backward_states(d_out, _pair("grad of (h_n, c_n)", d_hx))
        return dx, (dh0, dc0)

    def _layer_forward(self, x, states, weights, lengths):
        out, h_n, c_n, cache = F.lstm_forward(x, states[0], states[1], *weights, lengths=lengths)
        return out, (h_n, c_n), cache

    def _layer_backward(self, d_out, d_states, cache):
        g = F.lstm_backward(d_out, d_states[0], d_states[1], cache)
        return g.dx, (g.dh0, g.dc0), (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh, g.dw_hr)


class GRU(_HiddenStateRNN):
    """GRU with torch's equations and gate order r, z, n (``b_hn`` inside ``r ⊙ (·)``).

    Same constructor, parameters, shapes and initialisation as ``torch.nn.GRU``.
    ``out, h_n = m(x, h0)``; ``dx, dh0 = m.backward(d_out, d_h_n)``.
    """

    _gates = 3

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed)

    def _layer_forward(self, x, states, weights, lengths):
        out, h_n, cache = F.gru_forward(x, states[0], *weights, lengths=lengths)
        return out, (h_n,), cache

    def _layer_backward(self, d_out, d_states, cache):
        g = F.gru_backward(d_out, d_states[0], cache)
        return g.dx, (g.dh0,), (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)


def _pair(name, value):
    """None -> (None, None); a 2-tuple/list passes; anything else is a clear TypeError."""
    if value is None:
        return (None, None)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (h, c) or None, got {type(value).__name__}"
                        + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""))
    return tuple(value)


# ---------------------------------------------------------------------------
# Cells: one time step, torch's RNNCell / LSTMCell
# ---------------------------------------------------------------------------

class _CellCache(NamedTuple):
    layer: tuple                     # the functional cache of the one-step forward
    batched: bool
    N: int


class _CellBase(_Module):
    _gates = 1

    def __init__(self, input_size, hidden_size, bias, dtype, seed):
        super().__init__(dtype, seed)
        self.input_size = _checks.positive_int("input_size", input_size)
        self.hidden_size = _checks.positive_int("hidden_size", hidden_size)
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
        I, H = self.input_size, self.hidden_size
        if x.ndim not in (1, 2):
            raise ValueError(f"expected input of shape (N, {I}) or ({I},), got {_checks.shape_str(x.shape)}")
        batched = x.ndim == 2
        _checks.array("input", x, self.dtype, (None, I) if batched else (I,),
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
            v = np.zeros(shape, self.dtype) if v is None else _checks.array(name, v, self.dtype, shape)
            out.append(v if batched else v[None])
        return out

    def _step_grads(self, grads, names):
        cache = self._require_cache()
        return cache.layer, self._batched_states(names, grads, cache.N, cache.batched), cache.batched

    def _accumulate_step(self, dparams):
        for name, g in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), dparams):
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
        g = self._step_backward(np.zeros((1,) + d_h.shape, self.dtype), d_h, cache)
        self._accumulate_step((g.dw_ih, g.dw_hh, g.db_ih, g.db_hh))
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

    def _step_backward(self, d_out, d_h, cache):
        return F.rnn_backward(d_out, d_h, cache)


class LSTMCell(_CellBase):
    """One LSTM step with gate order i, f, g, o, like torch.nn.LSTMCell."""

    _gates = 4

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__(input_size, hidden_size, bias, dtype, seed)

    def forward(self, x, hx=None):
        """x (N, I) or (I,), hx (h, c) or None -> (h', c')."""
        x, (h, c), batched = self._step_input(x, _pair("hx", hx), ("h", "c"))
        out, h_n, c_n, cache = F.lstm_forward(x, h, c, *self._weights())
        self._cache = _CellCache(cache, batched, h.shape[0])
        return (h_n.copy(), c_n.copy()) if batched else (h_n[0].copy(), c_n[0].copy())

    def backward(self, d_hx):
        """Upstream grads of (h', c') (either None = zeros) -> (dx, (dh, dc))."""
        cache, (d_h, d_c), batched = self._step_grads(_pair("grad of (h', c')", d_hx),
                                                      ("grad of h'", "grad of c'"))
        g = F.lstm_backward(np.zeros((1,) + d_h.shape, self.dtype), d_h, d_c, cache)
        self._accumulate_step((g.dw_ih, g.dw_hh, g.db_ih, g.db_hh))
        if batched:
            return g.dx[0], (g.dh0, g.dc0)
        return g.dx[0, 0], (g.dh0[0], g.dc0[0])


class GRUCell(_HiddenStateCell):
    """One GRU step with gate order r, z, n, like torch.nn.GRUCell."""

    _gates = 3

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, seed=None):
        super().__init__(input_size, hidden_size, bias, dtype, seed)

    def _step_forward(self, x, h):
        return F.gru_forward(x, h, *self._weights())

    def _step_backward(self, d_out, d_h, cache):
        return F.gru_backward(d_out, d_h, cache)
