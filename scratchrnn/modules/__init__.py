"""The models, the cells and ``Linear``, with torch's constructors, parameter names and shapes.

``base.Module`` holds parameters and gradients; ``stack.RNNBase`` stacks the one-layer,
one-direction pairs of ``scratchrnn.functional`` into layers and directions exactly as
``torch.nn.RNN`` does; ``recurrent`` defines the three models and ``cells`` the one-step cells.
"""

from scratchrnn.modules.base import Module
from scratchrnn.modules.cells import GRUCell, LSTMCell, RNNCell
from scratchrnn.modules.linear import Linear
from scratchrnn.modules.recurrent import GRU, LSTM, RNN
from scratchrnn.modules.stack import RNNBase

__all__ = ["Module", "RNNBase", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Linear"]
