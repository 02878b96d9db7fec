"""Every tolerance the tests compare with, and the reason for its size.

Tests import these names instead of writing numbers. A tolerance is chosen from what
the two sides of a comparison really do differently; the "measured" figures are the
largest errors the suite's own comparisons show (relative to the tolerance used), so
each bound keeps a stated margin over them while a real mistake (a swapped gate, a
dropped bias, a missing time step) still gives errors of 1e-3 or more.

Units: ``EPS64`` = 2⁻⁵² ≈ 2.2e-16 and ``EPS32`` = 2⁻²³ ≈ 1.2e-7 are one ulp at 1.0;
a correctly rounded operation errs by at most half of that.

``dict`` tolerances are keyword arguments for ``np.testing.assert_allclose`` and
``torch.testing.assert_close``: ``assert_allclose(a, b, **F64_TORCH)``.
"""

import numpy as np

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)

# --- float64, one implementation, different memory layout -----------------------------
# The very same operations on the same numbers (unbatched vs a batch of one, batch_first
# vs time-major, a strided view vs its copy, a cell vs one step of the sequence module):
# only BLAS may pick another kernel for a differently laid out operand, which reorders
# the sums of each dot product, a few ulp per product: rtol ≈ 4500 ulp. atol for values
# that cancel to ~0 (inputs and gradients here are of order 1). Measured: bit-for-bit on
# this suite's machine (OpenBLAS), so the bound is only room for another BLAS.
# The same holds for the same products added into a running sum (a second backward adding
# its gradients into the first's, as BLAS stores them): only the order of the additions
# differs from g + g.
F64_LAYOUT = dict(rtol=1e-12, atol=1e-14)

# --- float64, scratchrnn against torch (or torch_ref's loops against torch.nn) --------
# Two implementations of the same equations: each output or gradient is a chain of
# T·L steps (forward and back through time) of dot products of length ≤ G·H, whose
# order, blocking and FMA use differ. Rounding is amplified by the recurrence's Jacobians,
# so a whole model gets more room than a single expression (F64_FORMULA). Measured: at most
# 6.5e-4 of this bound (errors ≈ 6e-14 relative): margin ×1500.
F64_TORCH = dict(rtol=1e-10, atol=1e-12)

# --- float64, one expression against torch --------------------------------------------
# Linear, the losses, gradient clipping and one optimizer step: a handful of roundings
# per element (no recurrence to amplify them), so the layout bound applies. Measured: at
# most 6.5e-3 of it (Linear's weight gradient, ≈ 7e-15 relative): margin ×150.
F64_FORMULA = F64_LAYOUT

# --- float64, a training run against torch's --------------------------------------------
# 12 optimizer steps: each step's rounding changes the next step's weights, and Adam
# divides by √v (small for rarely-updated weights), so differences grow over the run.
# Measured: at most 1.5e-5 of this bound (≈ 1.5e-14 relative after 12 steps).
F64_TRAJECTORY = dict(rtol=1e-9, atol=1e-12)


def product_bound(a, b, c=None):
    """Elementwise bound on |ours − NumPy's| for ``c + a @ b`` in float64 (K = a.shape[1]).

    Each side's error is at most γ_{K+1}·(|c| + |a| @ |b|) with γ_n = n·u/(1 − n·u) and
    u = EPS64/2 (Higham, Accuracy and Stability, §3.1), whatever the summation order;
    two sides: twice that. Deterministic, so it holds for every input, with no margin needed.
    """
    K = a.shape[1]
    u = EPS64 / 2
    gamma = (K + 1) * u / (1 - (K + 1) * u)
    total = np.abs(a) @ np.abs(b) + (0 if c is None else np.abs(c))
    return 2 * gamma * total


# --- elementary functions ---------------------------------------------------------------
# The float64 sigmoid 1/(1 + exp(-x)) against NumPy's: libm's exp errs by < 1 ulp, then
# 1 + e and the division round by ½ ulp each, on both sides: ≤ 4 ulp. Measured: 0.6 ulp at most.
SIGMOID_RTOL = 4 * EPS64

# The float32 gate functions (float32 data: scratchrnn/kernels/gates.py), in float32 ulps
# at the exact value (the float64 function of the float32 input; subnormal spacing below
# 2⁻¹²⁶). test_gates.py checks them over every float32 input that is not trivially exact:
# the 3.1e8 in [-106, -2⁻³⁰] for exp and sigmoid, the 2.9e8 in [2⁻³⁰, 18] for sigmoid, the
# 2.8e8 in [2⁻³⁰, 9.5] for tanh (odd; its sign is copied). Outside these the results are
# exactly 0, ½, 1, ±1 or x (spot-checked by the special-value test). Largest errors: exp
# 0.989, sigmoid 2.402, tanh 1.280 ulp; the bounds round them up to one decimal, as gates.py
# states them. IEEE float32 operations, fused multiply-adds included (``gates.fma``, rounded
# once), are deterministic, so a sample of inputs stays within them too (with the JIT off, the
# every-input check would take days).
F32_EXP_ULP = 1.0
F32_SIGMOID_ULP = 2.5
F32_TANH_ULP = 1.3

# --- finite differences -------------------------------------------------------------------
# sr.gradcheck's own default (see its docstring): central differences at step 1e-6 err by
# ~1e-10 relative (truncation eps²·L''' plus rounding 2⁻⁵³·|L|/eps); a wrong gradient gives
# ≥ 1e-3, so 1e-6 sits four orders of magnitude from each.
GRADCHECK = 1e-6

# A quadratic loss has L''' = 0: only the rounding error (~1e-10) remains.
GRADCHECK_QUADRATIC = 1e-8
