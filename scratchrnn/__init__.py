"""scratchrnn: recurrent networks from scratch in NumPy, with hand-derived BPTT.

Every output and gradient is checked against PyTorch (``scratchrnn verify``).
See ``docs/derivations.md`` for the equations the code cites.
"""

from . import functional, kernels
from .gradcheck import gradcheck
from .modules import LSTM, RNN, LSTMCell, RNNCell

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "RNNCell", "LSTMCell", "gradcheck", "functional", "kernels"]
