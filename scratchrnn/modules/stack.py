"""``RNNBase``: the machinery the RNN, LSTM and GRU share.

Layers × directions (a layer's two directions side by side where that pays:
``_each_direction``), the (T, N, F) / batch-first / unbatched layouts, dropout between
layers, variable lengths, and the checks on every input (equations (S1)–(S5) of
``docs/derivations.md``). Each model supplies its own one-layer forward and backward
from ``scratchrnn.functional``. K = ``num_layers`` and D directions: a state stack is
(D·K, N, ·), row ``idx = k·D + d`` for layer k and direction d (S5).
"""

import warnings
from typing import NamedTuple

import numpy as np

from scratchrnn import checks, layout
from scratchrnn import functional as F
from scratchrnn.kernels import team
from scratchrnn.modules.base import Module
from scratchrnn.registry import KINDS
from scratchrnn.workspace import Workspace


class LayerCache(NamedTuple):
    caches: list                     # [layer][direction] -> functional cache
    rev: object                      # (T, N) per-sequence reversal index, or None (plain [::-1])
    masks: list                      # [layer] -> dropout mask applied to the layer's output, or None
    batched: bool
    out_shape: tuple                 # user-facing shape of ``out``
    state_shapes: tuple              # user-facing shapes of ``h_n`` (and ``c_n``)



class RNNBase(Module):
    """Shared machinery of RNN and LSTM: layers × directions, layouts, dropout, checks."""

    _gates = KINDS["rnn"].gates      # G; the LSTM and GRU override it
    _n_states = 1         # 1: (h,), 2: (h, c)

    def __init__(self, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, dtype, seed):
        super().__init__(dtype, seed)
        self.input_size = checks.positive_int("input_size", input_size)
        self.hidden_size = checks.positive_int("hidden_size", hidden_size)
        self.num_layers = checks.positive_int("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = checks.dropout_prob(dropout)
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
        # {(layer, direction): its parameters' names in _weights order, None for a bias it lacks},
        # spelled out once here rather than on every call
        self._layer_names = {
            (k, d): tuple(n if n in self._params else None
                          for n in (f"weight_ih_l{k}{sfx}", f"weight_hh_l{k}{sfx}", f"bias_ih_l{k}{sfx}",
                                    f"bias_hh_l{k}{sfx}", f"weight_hr_l{k}{sfx}")[: 5 if P != H else 4])
            for k in range(self.num_layers) for d, sfx in enumerate(self._suffixes)}
        # One workspace per (layer, direction): the caches of its forward and the scratch of its
        # backward reuse the same memory from step to step (scratchrnn.workspace). Set
        # reuse_memory = False to have every call allocate afresh (less memory held between
        # steps, slower).
        self.reuse_memory = True
        self._workspaces = {}

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
        p = self._params
        return tuple(None if name is None else p[name] for name in self._layer_names[k, d])

    def _check_lengths(self, lengths, T, N, batched):
        """None, or (N,) integers in 1..T: each sequence's own length (padding after it)."""
        if lengths is None:
            return None
        if not batched:
            raise ValueError("lengths needs batched input (T, N, I); got unbatched (T, I)")
        return checks.integer_lengths(lengths, T, N)

    @staticmethod
    def _reversal(lengths, T, N):
        """(T, N) index that reverses each sequence within its own length (its own inverse)."""
        t = np.arange(T)[:, None]
        return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)

    @staticmethod
    def _flip(a, rev):
        """Time-reverse a (T, N, F) array: plainly, or each sequence within its length (S2)."""
        return a[::-1] if rev is None else a[rev, np.arange(a.shape[1])[None, :]]

    @property
    def workspaces(self):
        """{(layer, direction): Workspace} in use (scratchrnn.workspace); empty before the first
        forward and with ``reuse_memory = False``."""
        return dict(self._workspaces)

    def _workspace(self, k, d):
        """The workspace of layer k, direction d (created on first use); None without reuse."""
        if not self.reuse_memory:
            self._workspaces.clear()
            return None
        workspace = self._workspaces.get((k, d))
        if workspace is None:                        # not setdefault: that builds one on every call
            workspace = self._workspaces[k, d] = Workspace()
        return workspace

    # -- one layer, one direction: filled in by RNN, LSTM and GRU ----------------
    def _layer_forward(self, x, states, weights, lengths, workspace):
        """-> (out (T, N, H), final states tuple, cache); out and the states may be views of
        ``workspace``, valid until its next forward."""
        raise NotImplementedError

    def _layer_backward(self, d_out, d_states, cache, input_grad, accumulate):
        """-> (dx, initial-state grads tuple, (dw_ih, dw_hh, db_ih, db_hh)); dx None without
        ``input_grad``; the parameter gradients added into ``accumulate`` where it is not None
        (``Module._grads_in_place``), and then those arrays."""
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
                             f"got {checks.shape_str(x.shape)}")
        batched = x.ndim == 3
        doc = batched_doc if batched else f"(T, {I})"
        checks.array("input", x, self.dtype, (None,) * (x.ndim - 1) + (I,), doc)
        if x.size == 0:
            raise ValueError(f"expected a non-empty sequence and batch, got input of shape "
                             f"{checks.shape_str(x.shape)}")
        if not batched:
            return x[:, None, :], False              # (T, N=1, I)
        return (x.transpose(1, 0, 2) if self.batch_first else x), True   # (T, N, I)

    def _state_shapes(self, N, batched):
        """User-facing shape of each state: (D·K, N, size) batched, (D·K, size) unbatched."""
        DK = self.num_directions * self.num_layers
        return tuple((DK, N, F) if batched else (DK, F) for F in self._state_sizes)

    def _check_states(self, names, states, N, batched):
        """None -> zeros; else check each state's shape; return tuple of (D·K, N, size) arrays."""
        out = []
        for name, s, shape in zip(names, states, self._state_shapes(N, batched)):
            if s is None:
                out.append(np.zeros(shape, dtype=self.dtype))
            else:                                    # e.g. (D·num_layers=4, 2, 5)
                doc = f"(D·num_layers={shape[0]}" + "".join(f", {d}" for d in shape[1:]) + ")"
                checks.array(name, s, self.dtype, shape, doc)
                out.append(s)
        return tuple(s if batched else s[:, None, :] for s in out)

    def _each_direction(self, direction, k, T, N):
        """``[direction(d) for d in range(D)]`` for layer k over T steps of N sequences: the two
        directions side by side, one per thread, where ``layout.directions_side_by_side`` says
        that pays (each runs the same serial passes as alone, BLAS on one thread)."""
        if self.num_directions == 1:
            return [direction(0)]
        if not layout.directions_side_by_side(T, N, self._weights(k, 0)[1]):   # w_hh of layer k
            return [direction(0), direction(1)]
        return list(team.side_by_side(lambda: direction(0), lambda: direction(1)))

    # -- the composition (S1)–(S5) ---------------------------------------------
    def _forward_states(self, x, hx_states, lengths=None):
        x, batched = self._time_major_input(x)
        T, N, _ = x.shape
        lengths = self._check_lengths(lengths, T, N, batched)
        states = self._check_states(self._state_names, hx_states, N, batched)
        rev = None if lengths is None else self._reversal(lengths, T, N)   # (T, N)
        D = self.num_directions
        finals = [np.empty_like(s) for s in states]  # each (D·K, N, size)
        caches, masks = [], []
        layer_in = x                                  # (T, N, I_k)
        for k in range(self.num_layers):
            def direction(d):                        # layer k, direction d: (out, final states, cache)
                xin = layer_in if d == 0 else self._flip(layer_in, rev)  # (S2) reverse time
                return self._layer_forward(xin, tuple(s[k * D + d] for s in states), self._weights(k, d),
                                           lengths, self._workspace(k, d))
            outs, layer_caches = [], []
            for d, (out, s_n, cache) in enumerate(self._each_direction(direction, k, T, N)):
                idx = k * D + d                      # (S5)
                outs.append(out if d == 0 else self._flip(out, rev))   # (S2) align with x_t
                for f, s in zip(finals, s_n):
                    f[idx] = s                       # h_n[idx] = h_T of (k, d)   (S5)
                layer_caches.append(cache)
            last = k == self.num_layers - 1
            if D == 2:
                layer_out = np.concatenate(outs, axis=2)             # (T, N, 2P) (S1)
            elif last:        # a fresh array: what the caller keeps must outlive the workspace's next forward
                layer_out = outs[0].copy()
            else:             # the next layer reads it where it is: only the caches hold it, and the
                layer_out = outs[0]      # next forward replaces them all (a 2×128 LSTM's MNIST step: 0.2 ms)
            mask = None
            if not last and self.training and self.dropout > 0:
                keep = 1.0 - self.dropout
                mask = self.generator.random(layer_out.shape) < keep  # (T, N, D·H) (S4)
                mask = (mask / keep if keep > 0 else mask).astype(self.dtype)  # p = 1: all zeros, not 0/0
                layer_out = layer_out * mask     # a new array: this layer's backward reads its own h
            caches.append(layer_caches)
            masks.append(mask)
            layer_in = layer_out
        out = layer_in                                # (T, N, D·H)
        if batched and self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))         # (N, T, D·H)
        if not batched:
            out = out[:, 0, :]                       # (T, D·H)
            finals = [f[:, 0, :] for f in finals]    # (D·K, H)
        self._cache = LayerCache(caches, rev, masks, batched, out.shape, tuple(f.shape for f in finals))
        return out, tuple(finals)

    def _backward_states(self, d_out, d_finals, input_grad=True):
        """The grads of ``out`` and the final states -> (dx or None, initial-state grads); the
        first layer leaves dx out unless ``input_grad``."""
        cache = self._require_cache()
        for k, layer_caches in enumerate(cache.caches):   # all layers first: a rejected backward
            for sfx, c in zip(self._suffixes, layer_caches):   # accumulates nothing
                F.check_unchanged(c, f"{type(self).__name__}.backward, layer {k}{sfx}")
        checks.array("grad of output", d_out, self.dtype, cache.out_shape)
        d_finals = [np.zeros(shape, self.dtype) if g is None
                    else checks.array(f"grad of {n}", g, self.dtype, shape)
                    for n, g, shape in zip(self._state_final_names, d_finals, cache.state_shapes)]
        if not cache.batched:
            d_out = d_out[:, None, :]
            d_finals = [g[:, None, :] for g in d_finals]
        elif self.batch_first:
            d_out = d_out.transpose(1, 0, 2)         # (T, N, D·P)
        D, P = self.num_directions, self._out_size
        T, N = d_out.shape[:2]
        d_starts = [np.empty_like(g) for g in d_finals]   # grads of the initial states
        d_layer_out = d_out                          # (T, N, D·P)
        for k in reversed(range(self.num_layers)):
            if cache.masks[k] is not None:
                d_layer_out = d_layer_out * cache.masks[k]             # (S4)
            d_in = None
            intos = [self._grads_in_place(self._layer_names[k, d]) for d in range(D)]
            def direction(d):                        # layer k, direction d: (dx, initial-state grads, dparams)
                d_o = d_layer_out[:, :, d * P:(d + 1) * P]             # (T, N, P) this direction's half (S3)
                d_o = d_o if d == 0 else self._flip(d_o, cache.rev)    # (S2)
                return self._layer_backward(d_o, tuple(g[k * D + d] for g in d_finals), cache.caches[k][d],
                                            input_grad or k > 0, intos[d])
            for d, (dx, d_s0, dparams) in enumerate(self._each_direction(direction, k, T, N)):
                idx, into = k * D + d, intos[d]
                if dx is not None:
                    dx = dx if d == 0 else self._flip(dx, cache.rev)   # (S2)
                    d_in = dx if d_in is None else d_in + dx           # (S3) input fans out to both
                for g0, g in zip(d_starts, d_s0):
                    g0[idx] = g                      # dh_0[idx] = δ_0, dc_0[idx] = γ_0   (S5)
                if into is None:                     # else the backward added them into grads
                    # dparams in _weights order; an LSTM without a projection has 4 names, and
                    # zip drops its fifth gradient (dw_hr, None)
                    for name, g in zip(self._layer_names[k, d], dparams):
                        self._accumulate(name, g)
            d_layer_out = d_in                       # (S1) dx of layer k is d_out of layer k-1
        dx = d_layer_out                             # (T, N, I), or None without input_grad
        if not cache.batched:
            return None if dx is None else dx[:, 0, :], tuple(g[:, 0, :] for g in d_starts)
        if self.batch_first and dx is not None:
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

