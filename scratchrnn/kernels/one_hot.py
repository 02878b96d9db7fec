"""One-hot inputs: the input projection as a look-up, its weight gradient as sums of rows.

A character model reads one-hot vectors (``scratchrnn.one_hot``): each row of x holds one 1
and zeros. Its input projection ``x W_ihᵀ`` is then column k of ``W_ih`` for a row whose 1 is
in column k, and ``dW_ih = daᵀ x`` adds each row of ``da`` into the column of its row's 1.
As GEMMs both cost T·N·I·G·H multiply-adds, almost all of them by zero: at the character
model's T·N = 1120, I = 1027, G·H = 256 they took 12.5 ms on one core, the look-up, the sums
and the two scans about 0.6 ms (a 2-core AMD EPYC Zen 4, float32). Nothing is asked of the
caller: ``passes.project`` and ``sums.gemms_in_pieces`` scan their rows of x
(``one_hot_columns``) and take this path where all of them are one-hot or all zero.

The projection is the GEMM's to the last bit: the product's sum for a row is one term times
1 plus exact zeros, and ``add_columns`` adds it into the biases as BLAS's beta = 1 does
(``passes.project``), the biases' sum rounded first. The gradient
(``sums.weight_grad_one_hot``) sums each column's rows pairwise, as the bias gradients are
summed: a term passes through at most ``sums.pairwise_depth(count) + 1`` additions, count
the rows with their 1 in that column, where a GEMM adds them one after another. It differs
from a GEMM's by rounding alone. One thing differs beyond rounding: where ``W_ih`` or
``da`` holds ±inf or NaN, a GEMM's 0 · inf puts NaN into every output that multiplies it by
zero; here an output takes only the terms its row's 1 selects, as the maths has it.
"""

import numpy as np

from scratchrnn.kernels.jit import jit


@jit
def one_hot_columns(x2, columns, r0, r1):
    """True if every row r0:r1 of x2 (R, I) is one-hot (one 1, the rest 0) or all zero; then
    ``columns[r − r0]`` is the column of row r's 1, or -1 for a zero row. False at the first
    row that is neither (NaN and ±inf are neither), which is then as far as the scan reads.

    The count of non-zeros and the sum of their columns are integer sums, which vectorise;
    the value at that column is checked after (4.6 MB of float32 in 0.10 ms on one core,
    where a loop that stops at the first non-zero ran 0.64 ms).
    """
    I = x2.shape[1]
    for r in range(r0, r1):
        count = 0
        where = 0
        for k in range(I):
            nonzero = np.int64(x2[r, k] != 0)
            count += nonzero
            where += k * nonzero
        if count > 1 or (count == 1 and x2[r, where] != 1):
            return False
        columns[r - r0] = where if count else -1
    return True


@jit
def add_columns(columns, w_ih, out, r0, r1):
    """Rows r0:r1 of ``out += x2 W_ihᵀ`` for one-hot rows of x2: ``out[r] += W_ih[:, k]`` with k =
    ``columns[r − r0]``, and + 0 for a zero row (as a GEMM's sum of zeros: -0.0 + 0 is +0.0)."""
    zero = out.dtype.type(0)
    for r in range(r0, r1):
        k = columns[r - r0]
        for j in range(out.shape[1]):
            out[r, j] += w_ih[j, k] if k >= 0 else zero
