"""scratchrnn: recurrent networks from scratch in NumPy, with hand-derived BPTT.

Every output and gradient is checked against PyTorch (``scratchrnn verify``).
See ``docs/derivations.md`` for the equations the code cites.
"""

from . import functional, kernels
from .gradcheck import gradcheck

from .losses import cross_entropy, mse_loss, one_hot
from .modules import GRU, LSTM, RNN, GRUCell, LSTMCell, Linear, RNNCell
from .optim import SGD, Adam, clip_grad_norm, clip_grad_value

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Linear", "one_hot", "cross_entropy", "mse_loss",
           "clip_grad_norm", "clip_grad_value", "SGD", "Adam", "gradcheck", "functional", "kernels"]
