"""The readable path: every model's forward and BPTT in plain NumPy, one line per equation.

``scratchrnn.functional`` and ``scratchrnn.kernels`` are shaped for speed (hoisted
GEMMs, Numba loops that write one array per inner loop, reused buffers). This package
computes the same numbers the way ``docs/derivations.md`` writes them: in the
document's order, with its names, one line per numbered equation and the label in a
trailing comment. It is the code to read first; ``tests/test_reference.py`` proves it
equal to the fast path and to torch in float64.

Indexing is the document's: time ``t`` runs 1..T; states are stored with ``h[t]`` = h_t
and ``h[0]`` = h_0; per-step arrays (x, d_out, gates, da, ...) hold step t at ``[t - 1]``.

- ``rnn``:    (R1)–(R8), with (V1)–(V2)
- ``lstm``:   (L1)–(L11), the projection (P1)–(P3), with (V1)–(V2)
- ``gru``:    (G1)–(G10), with (V1)–(V2)
- ``layers``: stacked layers, directions, dropout and the final-state layout (S1)–(S5)
- ``losses``: the cross-entropy of a model's head

The signatures mirror ``scratchrnn.functional`` (``*_forward -> (out, h_fin, ..., cache)``,
``*_backward(d_out, d_h_fin, ..., cache) -> grads``), and the gradient tuples have the
same fields, so the two paths can be swapped in a test.
"""

from .gru import gru_backward, gru_forward
from .layers import stack_backward, stack_forward
from .losses import cross_entropy
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward", "stack_forward", "stack_backward", "cross_entropy"]
