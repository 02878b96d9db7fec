"""torch_ref: the PyTorch mirror of scratchrnn, the oracle every number is checked against.

- ``RNN``, ``LSTM``, ``GRU``, ``RNNCell``, ``LSTMCell``, ``GRUCell``: scratchrnn's
  constructors (plus ``device=``) returning the torch.nn module with the weights
  scratchrnn draws from the same seed.
- ``to_torch`` / ``to_scratch``: convert a module either way (config and weights);
  ``as_tensor`` / ``as_numpy`` convert arrays; ``default_device()`` is "cuda" when
  available, else "cpu".
- ``LoopRNN`` / ``LoopLSTM`` / ``LoopGRU`` with ``rnn_cell`` / ``lstm_cell`` / ``gru_cell``: the same layers as a
  readable Python loop over time on torch, differentiated by autograd.
"""

from .convert import (GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, as_numpy, as_tensor,
                      default_device, to_scratch, to_torch)
from .loop import LoopGRU, LoopLSTM, LoopRNN, gru_cell, lstm_cell, rnn_cell

__all__ = [
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "to_torch", "to_scratch", "as_tensor", "as_numpy", "default_device",
    "LoopRNN", "LoopLSTM", "LoopGRU", "rnn_cell", "lstm_cell", "gru_cell",
]
