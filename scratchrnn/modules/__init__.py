"""The models, the cells and ``Linear``, with torch's constructors, parameter names and shapes.

``base.Module`` holds parameters and gradients; ``stack.RNNBase`` stacks the one-layer,
one-direction pairs of ``scratchrnn.functional`` into layers and directions exactly as
``torch.nn.RNN`` does; ``recurrent`` defines the three models and ``cells`` the one-step cells.

Like torch's version counter, a ``backward`` raises RuntimeError, and accumulates nothing,
when an array its forward saved (the input, a weight) has been changed in place since: after
an optimizer step or ``load_state_dict``, run the forward again. ``dtype`` is float32 or
float64 (the NumPy type, its ``np.dtype`` or its name); anything else is a TypeError.
"""

from scratchrnn.modules.base import Module
from scratchrnn.modules.cells import GRUCell, LSTMCell, RNNCell
from scratchrnn.modules.linear import Linear
from scratchrnn.modules.recurrent import GRU, LSTM, RNN
from scratchrnn.modules.stack import RNNBase

__all__ = ["Module", "RNNBase", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Linear"]
