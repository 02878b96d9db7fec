"""The recurrent models: ``RNN`` (tanh, relu), ``LSTM`` (with ``proj_size``) and ``GRU``.

``RNN`` and ``LSTM`` compose the one-layer, one-direction pairs of
``scratchrnn.functional`` into a stacked, optionally bidirectional network,
exactly as ``torch.nn.RNN``/``torch.nn.LSTM`` do (equations (S1)–(S5) of
``docs/derivations.md``). Objects hold parameters, gradients and the cache of
the last forward — nothing that counts time steps.

    >>> import numpy as np, scratchrnn as sr
    >>> m = sr.LSTM(3, 5, num_layers=2, bidirectional=True, seed=0)
    >>> x = np.ones((7, 2, 3), dtype=np.float32)                  # (T, N, I)
    >>> out, (h_n, c_n) = m(x)
    >>> out.shape, h_n.shape, c_n.shape                           # (T, N, D·H), (D·K, N, H)
    ((7, 2, 10), (4, 2, 5), (4, 2, 5))
    >>> dx, (dh0, dc0) = m.backward(np.ones_like(out))
    >>> dx.shape, sorted(m.grads)[:2]
    ((7, 2, 3), ['bias_hh_l0', 'bias_hh_l0_reverse'])
"""

import numbers

import numpy as np

from scratchrnn import functional as F
from scratchrnn.modules.base import state_pair
from scratchrnn.modules.stack import RNNBase
from scratchrnn.registry import KINDS


class _HiddenStateRNN(RNNBase):
    """RNN and GRU: the state is h alone."""

    _state_names = ("h0",)
    _state_final_names = ("h_n",)

    def forward(self, x, hx=None, lengths=None):
        """x (T, N, I) | (N, T, I) with batch_first | (T, I); hx (D·K, N, H) or None -> (out, h_n).

        ``lengths`` (N,), 1..T: each sequence's own length, as torch's packed sequences; h_n is
        taken at each sequence's own end and padded outputs are 0.
        """
        out, (h_n,) = self._forward_states(x, (hx,), lengths)
        return out, h_n

    def backward(self, d_out, d_h_n=None, input_grad=True):
        """Upstream grads of ``out`` and ``h_n`` (None = zeros) -> (dx, dh0); accumulates ``grads``.

        ``input_grad=False``: dx is None, its product left out (an input that needs no gradient).
        """
        dx, (dh0,) = self._backward_states(d_out, (d_h_n,), input_grad)
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

    def _layer_forward(self, x, states, weights, lengths, workspace):
        out, h_n, cache = F.rnn_forward(x, states[0], *weights, nonlinearity=self.nonlinearity,
                                        lengths=lengths, workspace=workspace, checked=True)
        return out, (h_n,), cache

    def _layer_backward(self, d_out, d_states, cache, input_grad, accumulate):
        g = F.rnn_backward(d_out, d_states[0], cache, checked=True, input_grad=input_grad,
                           accumulate=accumulate)
        return g.dx, (g.dh0,), (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class LSTM(RNNBase):
    """LSTM with torch's equations and gate order i, f, g, o.

    Same constructor, parameters, shapes and initialisation as ``torch.nn.LSTM``.
    ``out, (h_n, c_n) = m(x, (h0, c0))``; ``dx, (dh0, dc0) = m.backward(d_out, (d_h_n, d_c_n))``.
    With ``proj_size = P`` (0 < P < H) every step's ``o ⊙ tanh(c_t)`` is projected by
    ``weight_hr_l{k}`` (P, H): h, h0, h_n and each direction's output have P features, c keeps H.
    """

    _gates = KINDS["lstm"].gates
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
        out, (h_n, c_n) = self._forward_states(x, state_pair("hx", hx), lengths)
        return out, (h_n, c_n)

    def backward(self, d_out, d_hx=None, input_grad=True):
        """Upstream grads of ``out`` and ``(h_n, c_n)`` (None = zeros) -> (dx, (dh0, dc0));
        accumulates ``grads``. ``input_grad=False``: dx is None, its product left out."""
        dx, (dh0, dc0) = self._backward_states(d_out, state_pair("grad of (h_n, c_n)", d_hx),
                                                input_grad)
        return dx, (dh0, dc0)

    def _layer_forward(self, x, states, weights, lengths, workspace):
        out, h_n, c_n, cache = F.lstm_forward(x, states[0], states[1], *weights, lengths=lengths,
                                              workspace=workspace, checked=True)
        return out, (h_n, c_n), cache

    def _layer_backward(self, d_out, d_states, cache, input_grad, accumulate):
        g = F.lstm_backward(d_out, d_states[0], d_states[1], cache, checked=True, input_grad=input_grad,
                            accumulate=accumulate)
        return g.dx, (g.dh0, g.dc0), (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh, g.dw_hr)


class GRU(_HiddenStateRNN):
    """GRU with torch's equations and gate order r, z, n (``b_hn`` inside ``r ⊙ (·)``).

    Same constructor, parameters, shapes and initialisation as ``torch.nn.GRU``.
    ``out, h_n = m(x, h0)``; ``dx, dh0 = m.backward(d_out, d_h_n)``.
    """

    _gates = KINDS["gru"].gates

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed)

    def _layer_forward(self, x, states, weights, lengths, workspace):
        out, h_n, cache = F.gru_forward(x, states[0], *weights, lengths=lengths,
                                        workspace=workspace, checked=True)
        return out, (h_n,), cache

    def _layer_backward(self, d_out, d_states, cache, input_grad, accumulate):
        g = F.gru_backward(d_out, d_states[0], cache, checked=True, input_grad=input_grad,
                           accumulate=accumulate)
        return g.dx, (g.dh0,), (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)

