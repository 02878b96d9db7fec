"""RNN and LSTM written as explicit Python loops over time on torch; autograd does BPTT.

The third implementation, next to scratchrnn (NumPy, hand-derived backward) and
``torch.nn.RNN``/``torch.nn.LSTM`` (fused ATen/cuDNN kernels). It has torch's
constructor, parameter names, shapes and initialisation, so a ``state_dict`` moves
between ``nn.LSTM`` and ``LoopLSTM`` unchanged; only the forward is spelled out.

Dimension letters: T time, N batch, I input features, H hidden, G gates
(1 RNN, 4 LSTM), D directions, L layers.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["rnn_cell", "lstm_cell", "gru_cell", "LoopRNN", "LoopLSTM", "LoopGRU"]


def rnn_cell(x_t: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None, b_hh: Tensor | None,
             nonlinearity: str = "tanh") -> Tensor:
    """One vanilla RNN step: ``h_t = act(x_t W_ihᵀ + b_ih + h W_hhᵀ + b_hh)``.

    x_t (N, I), h (N, H), w_ih (H, I), w_hh (H, H), b_ih/b_hh (H,) or None.
    Returns h_t (N, H).
    """
    a = F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (N, H)
    return torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)  # (N, H)


def lstm_cell(x_t: Tensor, state: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None, b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    """One LSTM step, gate order i, f, g, o (torch's).

    x_t (N, I), state = (h (N, H), c (N, H)), w_ih (4H, I), w_hh (4H, H),
    b_ih/b_hh (4H,) or None. Returns (h_t, c_t), each (N, H).
    """
    h, c = state
    a = F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (N, 4H)
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)  # 4 x (N, H)
    i = torch.sigmoid(a_i)  # (N, H) input gate
    f = torch.sigmoid(a_f)  # (N, H) forget gate
    g = torch.tanh(a_g)  # (N, H) candidate cell
    o = torch.sigmoid(a_o)  # (N, H) output gate
    c_t = f * c + i * g  # (N, H)
    h_t = o * torch.tanh(c_t)  # (N, H)
    return h_t, c_t


def gru_cell(x_t: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor:
    """One GRU step, gate order r, z, n (torch's), with b_hn inside ``r * (·)``.

    x_t (N, I), h (N, H), w_ih (3H, I), w_hh (3H, H), b_ih/b_hh (3H,) or None.
    Returns h_t (N, H).
    """
    ax_r, ax_z, ax_n = F.linear(x_t, w_ih, b_ih).chunk(3, dim=1)  # 3 x (N, H)
    ah_r, ah_z, ah_n = F.linear(h, w_hh, b_hh).chunk(3, dim=1)  # 3 x (N, H)
    r = torch.sigmoid(ax_r + ah_r)  # (N, H) reset gate
    z = torch.sigmoid(ax_z + ah_z)  # (N, H) update gate
    n = torch.tanh(ax_n + r * ah_n)  # (N, H) candidate
    return (1 - z) * n + z * h  # (N, H)


class _LoopBase(nn.Module):
    """Shared constructor, parameters and layer/direction loop of LoopRNN and LoopLSTM."""

    gates = 1  # G: rows of weight_ih per hidden unit

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(f"expected dropout as a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout acts between recurrent layers, so it does nothing "
                          f"with num_layers=1 (got dropout={dropout})", stacklevel=2)
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError("expected positive input_size, hidden_size and num_layers, "
                             f"got {input_size}, {hidden_size}, {num_layers}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0  # torch's attribute; projections are not implemented here
        D = 2 if bidirectional else 1
        GH = self.gates * hidden_size
        kw = {"device": device, "dtype": dtype}
        # Registration order = torch's, so reset_parameters draws the same numbers
        # from the same torch seed as nn.RNN / nn.LSTM.
        for k in range(num_layers):
            I_k = input_size if k == 0 else D * hidden_size
            for sfx in ("", "_reverse")[:D]:
                self.register_parameter(f"weight_ih_l{k}{sfx}",
                                        nn.Parameter(torch.empty(GH, I_k, **kw)))  # (G·H, I_k)
                self.register_parameter(f"weight_hh_l{k}{sfx}",
                                        nn.Parameter(torch.empty(GH, hidden_size, **kw)))  # (G·H, H)
                if bias:
                    self.register_parameter(f"bias_ih_l{k}{sfx}",
                                            nn.Parameter(torch.empty(GH, **kw)))  # (G·H,)
                    self.register_parameter(f"bias_hh_l{k}{sfx}",
                                            nn.Parameter(torch.empty(GH, **kw)))  # (G·H,)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/√H, 1/√H), as torch does. Returns None."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def layer_weights(self, k: int, sfx: str) -> tuple:
        """Returns (w_ih, w_hh, b_ih, b_hh) of layer k, direction sfx; biases None if bias=False."""
        def get(name):
            return getattr(self, f"{name}_l{k}{sfx}", None)
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                              ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s

    # --- the subclasses say what a step is and what the state holds -----------------
    def step(self, x_t: Tensor, state, weights: tuple):
        """Returns the state after one time step (subclasses call their cell)."""
        raise NotImplementedError

    def hidden(self, state) -> Tensor:
        """Returns the hidden vector h (N, H) held in a state."""
        raise NotImplementedError

    def run(self, x: Tensor, states: list) -> tuple[Tensor, list]:
        """Run all layers and directions over time-major x (T, N, I).

        ``states[j]`` is the initial state of layer k, direction d at j = k·D + d: a
        tensor h (N, H) for the RNN, a tuple (h, c) for the LSTM. Returns the last
        layer's output (T, N, D·H) and the list of final states in the same order.
        """
        T = x.shape[0]
        D = 2 if self.bidirectional else 1
        finals = []
        layer_input = x  # (T, N, I_k)
        for k in range(self.num_layers):
            outputs = []
            for d, sfx in enumerate(("", "_reverse")[:D]):
                weights = self.layer_weights(k, sfx)
                state = states[k * D + d]
                hs = [None] * T
                for t in (range(T) if d == 0 else reversed(range(T))):
                    state = self.step(layer_input[t], state, weights)
                    hs[t] = self.hidden(state)  # (N, H)
                outputs.append(torch.stack(hs))  # (T, N, H)
                finals.append(state)
            layer_input = torch.cat(outputs, dim=2)  # (T, N, D·H)
            if self.training and self.dropout > 0 and k < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)  # (T, N, D·H)
        return layer_input, finals

    def prepare(self, input: Tensor, hx_parts: tuple[Tensor | None, ...]):
        """Check shapes and bring input to time-major; zeros for missing states.

        Returns (x (T, N, I), hx_parts each (L·D, N, H), batched).
        """
        if not isinstance(input, Tensor):
            raise TypeError(f"expected a Tensor input (PackedSequence is not supported), "
                            f"got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"expected input of shape (T, N, {self.input_size}), "
                             f"(N, T, {self.input_size}) with batch_first, or "
                             f"(T, {self.input_size}), got {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"expected input with {self.input_size} features in the last "
                             f"dimension, got shape {tuple(input.shape)}")
        batched = input.dim() == 3
        if not batched:
            x = input.unsqueeze(1)  # (T, 1, I)
        elif self.batch_first:
            x = input.transpose(0, 1)  # (T, N, I)
        else:
            x = input  # (T, N, I)
        N = x.shape[1]
        LD = self.num_layers * (2 if self.bidirectional else 1)
        expected = (LD, N, self.hidden_size) if batched else (LD, self.hidden_size)
        parts = []
        for h in hx_parts:
            if h is None:
                h = x.new_zeros(LD, N, self.hidden_size)  # (L·D, N, H)
            elif tuple(h.shape) != expected:
                raise ValueError(f"expected initial state of shape {expected}, "
                                 f"got {tuple(h.shape)}")
            elif not batched:
                h = h.unsqueeze(1)  # (L·D, 1, H)
            parts.append(h)
        return x, parts, batched

    def finish(self, out: Tensor, batched: bool) -> Tensor:
        """Returns out (T, N, D·H) in the caller's layout: (N, T, D·H) or (T, D·H)."""
        if not batched:
            return out.squeeze(1)  # (T, D·H)
        return out.transpose(0, 1) if self.batch_first else out


class LoopRNN(_LoopBase):
    """Elman RNN as a Python loop over ``rnn_cell``; drop-in for ``nn.RNN`` (no PackedSequence).

    ``LoopRNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None)``.
    ``forward(input, hx=None)`` returns ``(output, h_n)`` with torch's shapes:
    output (T, N, D·H) (or (N, T, D·H) with batch_first, (T, D·H) unbatched),
    h_n (L·D, N, H) (or (L·D, H) unbatched).
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"expected nonlinearity 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def step(self, x_t, h, weights):
        return rnn_cell(x_t, h, *weights, self.nonlinearity)  # (N, H)

    def hidden(self, h):
        return h  # (N, H)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns (output, h_n); shapes as in the class docstring."""
        x, (h0,), batched = self.prepare(input, (hx,))  # (T, N, I), (L·D, N, H)
        out, finals = self.run(x, list(h0.unbind(0)))  # (T, N, D·H), L·D x (N, H)
        h_n = torch.stack(finals)  # (L·D, N, H)
        return self.finish(out, batched), (h_n if batched else h_n.squeeze(1))


class LoopLSTM(_LoopBase):
    """LSTM as a Python loop over ``lstm_cell``; drop-in for ``nn.LSTM`` (no proj_size, no PackedSequence).

    ``LoopLSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, device=None, dtype=None)``.
    ``forward(input, hx=None)`` with ``hx = (h0, c0)`` returns ``(output, (h_n, c_n))``:
    output (T, N, D·H) (or (N, T, D·H) with batch_first, (T, D·H) unbatched),
    h_n and c_n (L·D, N, H) (or (L·D, H) unbatched).
    """

    gates = 4

    def step(self, x_t, state, weights):
        return lstm_cell(x_t, state, *weights)  # ((N, H), (N, H))

    def hidden(self, state):
        return state[0]  # (N, H)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Returns (output, (h_n, c_n)); shapes as in the class docstring."""
        h0, c0 = (None, None) if hx is None else hx
        x, (h0, c0), batched = self.prepare(input, (h0, c0))  # (T, N, I), 2 x (L·D, N, H)
        out, finals = self.run(x, list(zip(h0.unbind(0), c0.unbind(0))))  # (T, N, D·H)
        h_n = torch.stack([h for h, _ in finals])  # (L·D, N, H)
        c_n = torch.stack([c for _, c in finals])  # (L·D, N, H)
        if not batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)  # (L·D, H)
        return self.finish(out, batched), (h_n, c_n)


class LoopGRU(_LoopBase):
    """GRU as a Python loop over ``gru_cell``; drop-in for ``nn.GRU`` (no PackedSequence).

    ``LoopGRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, device=None, dtype=None)``.
    ``forward(input, hx=None)`` returns ``(output, h_n)`` with ``nn.GRU``'s shapes.
    """

    gates = 3

    def step(self, x_t, h, weights):
        return gru_cell(x_t, h, *weights)  # (N, H)

    def hidden(self, h):
        return h  # (N, H)

    forward = LoopRNN.forward  # the state is h alone, as for the RNN
