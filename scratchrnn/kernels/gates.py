"""Gate functions of one value: sigmoid, tanh, and the libm-free exp behind them for float32 data.

For float32 data they avoid libm so that LLVM can vectorise the loops that call them
(this Numba has no SVML: a libm call costs ~20 ns and keeps the loop scalar). They still
compute in float64, so the float32 results are the correctly rounded ones. For float64
data they call libm's exp/tanh, the reference.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from scratchrnn.kernels.jit import jit_inline


def _times_pow2(p, k):
    """``p · 2**k`` for an integral float ``k`` with ``2**k`` normal: exact.

    This Python body is what runs with ``NUMBA_DISABLE_JIT=1``; compiled code uses
    the overload below, which builds ``2**k`` from its bits (same result, vectorisable).
    """
    return p * 2.0 ** k


@intrinsic
def _pow2(typingctx, k):
    """``2**k`` (k an integral float64 in [-1022, 1023]) from its IEEE bits ``(k + 1023) << 52``.

    Adding 2**52 + 1023 puts ``k + 1023`` in the low mantissa bits; the shift moves it
    into the exponent field. No float→int conversion (AVX2 has none for 64-bit ints).
    """
    sig = types.float64(types.float64)

    def codegen(context, builder, signature, args):
        i64, f64 = ir.IntType(64), ir.DoubleType()
        biased = builder.fadd(args[0], ir.Constant(f64, 2.0 ** 52 + 1023.0))
        bits = builder.shl(builder.bitcast(biased, i64), ir.Constant(i64, 52))
        return builder.bitcast(bits, f64)
    return sig, codegen


@overload(_times_pow2, jit_options={"error_model": "numpy"}, inline="always")
def _times_pow2_compiled(p, k):
    def impl(p, k):
        return p * _pow2(k)
    return impl


def is_single(a):
    """True for float32 arrays: their gates take the libm-free, vectorisable path.

    In compiled code (the overload below) this is a constant of the array's type, so
    each kernel is compiled with only one of the two paths in its loops; an array's
    ``itemsize`` is a run-time field to Numba and left both paths (and a branch) in.
    """
    return a.dtype == np.float32


@overload(is_single, inline="always")
def _is_single_compiled(a):
    single = a.dtype == types.float32
    return lambda a: single


_LOG2E = 1.4426950408889634                 # 1 / ln 2
_LN2_HI = 6.93147180369123816490e-01        # ln 2 split so that k · _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (
    1.0 / math.factorial(i) for i in range(14))


@jit_inline
def exp_nonpositive(x):
    """exp(x) for x ≤ 0 in float64 without libm, within 2 ulp (tests/test_kernels.py).

    x = k·ln2 + r with k = round(x / ln2) and |r| ≤ ln2/2; exp(r) is its Taylor series
    to r¹³ (truncation below 1e-17), evaluated by Estrin's scheme (short dependency
    chains); the result is exp(r) · 2**k. x is clamped at -708, where 2**k is still normal:
    exp(-708) ≈ 3e-308 rounds to 0 in float32 exactly like the true value does.
    """
    x = max(x, -708.0)                           # NaN passes through
    k = np.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    p0 = (_C0 + _C1 * r) + (_C2 + _C3 * r) * r2
    p1 = (_C4 + _C5 * r) + (_C6 + _C7 * r) * r2
    p2 = (_C8 + _C9 * r) + (_C10 + _C11 * r) * r2
    p3 = _C12 + _C13 * r
    return _times_pow2((p0 + p1 * r4) + (p2 + p3 * r4) * r8, k)


@jit_inline
def sigmoid(x, single):
    """Numerically stable logistic function of one value, in float64 (L2).

    With ``e = exp(-|x|)`` (never overflows): ``1/(1+e)`` for x ≥ 0, ``e/(1+e)`` for x < 0.
    ``single`` (float32 data): exp without libm, see ``exp_nonpositive``.
    """
    x = np.float64(x)
    e = exp_nonpositive(-abs(x)) if single else math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


@jit_inline
def tanh(x, single):
    """tanh of one value, in float64.

    For float64 data (``single`` False) this is libm's tanh. For float32 data it is
    ``(1 − e)/(1 + e)`` with ``e = exp(−2|x|)``, computed in float64 without libm: it
    rounds to the float32 nearest the exact value (tests/test_kernels.py checks a
    sweep) and vectorises. Below 2⁻¹³, tanh(x) rounds to x in float32.
    """
    x = np.float64(x)
    if not single:
        return math.tanh(x)
    ax = abs(x)
    e = exp_nonpositive(-2.0 * ax)
    t = (1.0 - e) / (1.0 + e)
    t = ax if ax < 2.0 ** -13 else t
    return math.copysign(t, x)                   # keeps the sign of -0.0 too
