"""Numba kernels: the time loops (``loops``), their gate functions (``gates``) and products
(``products``, and ``panels`` for weights packed once per pass; ``transpose`` for the
transposed copies of the weights), each layer pass as one
compiled call (``passes``), the sums that keep float32's digits (``sums``, with ``blas``'s
GEMM that adds into its output), one-hot input looked up instead of multiplied
(``one_hot``), the cross-entropy (``softmax``) and the scan for NaN and inf behind the input
checks (``finite``).

The time loops hold only the inherently sequential part of each recurrence; everything that
does not depend on the previous state is one GEMM around them in ``passes``, and ``team``
decides when a pass runs in row blocks on all cores. With ``NUMBA_DISABLE_JIT=1`` the same
code runs as plain Python.
"""

from scratchrnn.kernels.gates import exp_nonpositive, is_single, sigmoid, tanh
from scratchrnn.kernels.loops import (gru_backward_kernel, gru_forward_kernel, lstm_backward_kernel,
                                      lstm_forward_kernel, rnn_backward_kernel, rnn_forward_kernel)
from scratchrnn.kernels import team
from scratchrnn.kernels.products import (SINGLE_ROW_MAX, SMALL_N, matmul, matmul_add, matmul_add_into,
                                         own_loops, takes_own_loops)
from scratchrnn.kernels.transpose import transpose_into

__all__ = ["rnn_forward_kernel", "rnn_backward_kernel", "lstm_forward_kernel", "lstm_backward_kernel",
           "gru_forward_kernel", "gru_backward_kernel", "matmul", "matmul_add", "matmul_add_into", "own_loops",
           "takes_own_loops", "SMALL_N", "SINGLE_ROW_MAX", "transpose_into", "sigmoid", "tanh",
           "exp_nonpositive", "is_single"]
