"""The optimizer's elementwise work as compiled loops: one pass over each parameter.

``scratchrnn.optim.Adam`` written as NumPy expressions makes a temporary array for each
operation: about a dozen passes over every parameter, and for a 2×128 LSTM (216,000
float32 values) 0.3–0.5 ms of a 13 ms MNIST training step. ``adam`` reads p, g, m and v
once and writes p, m and v once; ``sgd`` reads p, g (and the momentum buffer) once and
writes p (and the buffer) once, where ``p -= lr * g`` made a temporary the size of p.
Each value is computed by the same float operations, in the same order and in the data's
dtype, as the expressions in the optimizers' docstrings: float32 stays float32 (the caller
casts the coefficients to the dtype), and the results are the NumPy expressions' to the
bit. ``sum_of_squares`` is the global norm's Σ g².

The arrays are 1-D and C-contiguous (``optim`` passes flat views). With
``NUMBA_DISABLE_JIT=1`` the same lines run as Python, one value at a time.
"""

import math

import numpy as np

from scratchrnn.kernels.jit import jit, jit_sum


@jit
def adam(p, g, m, v, one_minus_b1, b2, one_minus_b2, step_size, bc2_sqrt, eps, weight_decay,
         decay):
    """One Adam step in place: for every i, with g ← g + λp where ``decay`` (λ = ``weight_decay``),
    m ← m + (1−β₁)(g − m);  v ← β₂v + (1−β₂)g²;  p ← p − step_size · m / (√v / bc2_sqrt + ε).

    The scalars come in the arrays' dtype (``one_minus_b1`` is 1 − β₁, rounded once, as
    NumPy rounds the Python float it is given). ``decay``: whether a weight decay was given at
    all; one that rounds to 0 in the dtype still adds 0·p, as the NumPy expression does (an
    inf weight then turns NaN, in torch too).
    """
    for i in range(p.size):
        grad = g[i] + weight_decay * p[i] if decay else g[i]
        m[i] = m[i] + one_minus_b1 * (grad - m[i])   # torch: exp_avg.lerp_(grad, 1 − β₁)
        v[i] = v[i] * b2 + one_minus_b2 * grad * grad
        p[i] = p[i] - step_size * m[i] / (math.sqrt(v[i]) / bc2_sqrt + eps)


@jit
def sgd(p, g, b, lr, momentum, weight_decay, decay, restart):
    """One SGD step in place: for every i, d = g + λp where ``decay`` (λ = ``weight_decay``), else g;
    with a momentum buffer ``b`` (as long as p; empty without momentum), b ← d where
    ``restart`` (the buffer's first step), else b ← μb + d with μ = ``momentum``, and then
    d = b; p ← p − lr · d.

    The scalars come in the arrays' dtype; ``decay`` as in ``adam``.
    """
    buffered = b.size > 0
    for i in range(p.size):
        d = g[i] + weight_decay * p[i] if decay else g[i]
        if buffered:
            b[i] = d if restart else b[i] * momentum + d
            d = b[i]
        p[i] = p[i] - lr * d


@jit_sum
def sum_of_squares(g):
    """Σ g[i]² in float64, each value cast as it is read (no float64 copy of g).

    Summed in the order LLVM picks (``jit_sum``): several running sums side by side in vectors,
    added up at the end, whose adds do not wait for each other (a single running sum waits
    for its previous add at every value). Each running sum takes a share of the values, so
    the rounding error stays within that of one running sum over all of them. Eight sums
    written out by hand, which LLVM left scalar, took 0.55–0.60 ns a value (Intel Xeon,
    float32); this takes 0.11 (benchmarks/results/xeon-avx512-2026-12-07-training/
    kernels_before_after.txt).
    """
    total = 0.0
    for i in range(g.size):
        x = np.float64(g[i])
        total += x * x
    return total
