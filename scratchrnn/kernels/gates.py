"""Gate functions of one value: sigmoid, tanh, and the libm-free exp behind them for float32 data.

For float64 data they call libm's exp and tanh, the reference. For float32 data they
compute in float32 without libm, so that LLVM vectorises the loops that call them: this
Numba has no SVML, and a libm call costs ~20 ns and keeps the loop scalar. The vectors are as
wide as LLVM chooses for the CPU: on Intel CPUs with AVX-512 it prefers 256-bit vectors (8
float32 lanes). Numba compiled with ``NUMBA_CPU_FEATURES`` set to the host's features with
``-prefer-256-bit`` appended (which turns that preference off) uses all 16 lanes: 0.42
against 0.53 ns per sigmoid (Intel Xeon), and no difference beyond the noise in a whole
forward+backward, where the products and the memory traffic take most of the time.

The polynomials and the range reduction are written with ``fma`` (a·b + c rounded once,
one instruction per vector where the CPU has FMA units, as most x86-64 CPUs since 2013
(Intel's Haswell, AMD's Piledriver) and every 64-bit ARM CPU do; without them LLVM calls
libm's ``fmaf``, exact but one value at a time): a separate multiply and add is two, and
LLVM fuses them only where told it may. On a Zen 4 (AVX-512, 16 lanes) that took sigmoid
from 0.41 to 0.32 ns a value and tanh from 0.60 to 0.49. The results are not
correctly rounded: over every float32 input they stay within 1.0 ulp (exp), 2.5 ulp (sigmoid)
and 1.3 ulp (tanh) of the exact value, with the same largest errors as the unfused forms:
0.989, 2.402, 1.280 (tests/test_gates.py checks every input compiled, a sweep with the JIT off).
``exp_nonpositive``'s last step, 1 + (r + r²q), stays unfused: fused it reached 1.019 ulp.

Most saturated inputs cost what others do. Arithmetic whose result rounds to a subnormal
number or underflows to zero can take a microcode assist (Intel CPUs take one unless
flush-to-zero is on, and it is off by default). An earlier form of ``exp_nonpositive`` scaled by
``2**(k+64)`` and then ``2**-64``, clamping x at -104, so below -104 its last product
underflowed: on a 2-core Intel Xeon (Emerald Rapids, KVM) sigmoid(±1000) and tanh(±1000) took
7.9–8.1 ns a value (medians of six rounds), against 0.53–0.80 at sigmoid(-1), tanh(-1) and
inputs drawn with standard deviation 3. Now the last scaling builds ``2**(k+25)`` from its
exponent bits (``_pow2``), and below -105.01 (x is clamped at -105.5) those bits are all zero,
the number 0: exp is 0 there without an underflow, and those inputs take 0.53–0.78 ns too, with
no measurable change at the others (0.958× and 0.981× the time for sigmoid and tanh on inputs
drawn with standard deviation 3, medians of the ratios within six rounds). The results are the
same, bit for bit, over every float32 input (all 2³²). Still paid for, about 14 ns a value
(medians 13.8 and 14.1), where exp's result itself is subnormal or underflows: sigmoid(x) for x
between -105.01 and -87.3 (whose results are subnormal numbers, which must be computed) and
between 87.3 and 105.01 (result 1), tanh(x) for |x| between 43.7 and 52.5 (result ±1). A form
that tested for inputs below -104 with a select instead, and clamped tanh's argument at 10
(which took in tanh's band), cost every value: sigmoid and tanh took 1.05× (0.92–1.35) and
1.10× (0.95–1.31) this form's time on inputs drawn with standard deviation 3
(benchmarks/results/xeon-avx512-2026-12-07-tried/README.md).
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from scratchrnn.kernels.jit import jit_inline


def _times_pow2(p, k):
    """``p · 2**k`` in float32, for an integral float32 ``k`` in [-126, 127]; ``p · 0`` for k = -127,
    whose ``2**k`` from its bits is 0 (``_pow2``).

    This Python body is what runs with ``NUMBA_DISABLE_JIT=1`` (NumPy's float32 power is
    exact for powers of two); compiled code uses the overload below, which builds ``2**k``
    from its bits (same result, vectorisable).
    """
    return p * (np.float32(2.0) ** k if k > -127 else np.float32(0.0))


@intrinsic
def _pow2(typingctx, k):
    """``2**k`` (k an integral float32 in [-127, 127]) from its IEEE bits ``(k + 127) << 23``.

    Adding 2**23 + 127 puts ``k + 127`` in the low mantissa bits; the shift moves it into
    the exponent field (the 2**23 bit falls off the top). No float→int conversion. For
    k = -127 every bit is 0: the number 0, which ``exp_nonpositive`` uses below its range.
    """
    sig = types.float32(types.float32)

    def codegen(context, builder, signature, args):
        i32, f32 = ir.IntType(32), ir.FloatType()
        biased = builder.fadd(args[0], ir.Constant(f32, 2.0 ** 23 + 127.0))
        bits = builder.shl(builder.bitcast(biased, i32), ir.Constant(i32, 23))
        return builder.bitcast(bits, f32)
    return sig, codegen


@overload(_times_pow2, jit_options={"error_model": "numpy"}, inline="always")
def _times_pow2_compiled(p, k):
    def impl(p, k):
        return p * _pow2(k)
    return impl


def fma(a, b, c):
    """``a·b + c`` for float32 ``a, b, c``, rounded once to float32 (a fused multiply-add).

    This Python body is what runs with ``NUMBA_DISABLE_JIT=1``; compiled code uses the
    overload below, LLVM's ``fma`` (one instruction per vector, where the CPU has FMA), with the
    same result. Here: ``a·b`` is exact in float64, whose 53 significant bits hold the 2·24
    of a product of two float32; the float64 sum ``s`` rounds, and rounding that result to
    float32 again could round twice. Rounding ``s`` to odd instead (if the sum was inexact and
    ``s``'s last bit is even, the float64 neighbour towards the exact sum) makes the final
    rounding the single one: a rounding to odd followed by one to nearest is correct where the
    first keeps at least 2 more bits than the second, 53 ≥ 24 + 2 (Boldo and Melquiond,
    "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to odd",
    IEEE Trans. Comput. 57(4), 2008).
    """
    p = np.float64(a) * np.float64(b)
    s = p + np.float64(c)
    if not np.isfinite(s):                       # inf or NaN: no rounding to correct
        return np.float32(s)
    v = s - p                                    # TwoSum: err is exactly (p + c) − s
    err = (p - (s - v)) + (np.float64(c) - v)
    if err != 0 and not s.view(np.int64) & 1:
        s = np.nextafter(s, np.inf if err > 0 else -np.inf)
    return np.float32(s)


@intrinsic
def _fma_f32(typingctx, a, b, c):
    """LLVM's ``llvm.fma.f32``: ``a·b + c`` rounded once."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f32], ir.FunctionType(f32, [f32] * 3))
        return builder.call(fn, args)
    return sig, codegen


@overload(fma, jit_options={"error_model": "numpy"}, inline="always")
def _fma_compiled(a, b, c):
    def impl(a, b, c):
        return _fma_f32(np.float32(a), np.float32(b), np.float32(c))
    return impl


def is_single(a):
    """True for float32 arrays: their gates take the float32, libm-free, vectorisable path.

    In compiled code (the overload below) this is a constant of the array's type, so
    each kernel is compiled with only one of the two paths in its loops; an array's
    ``itemsize`` is a run-time field to Numba and left both paths (and a branch) in.
    """
    return a.dtype == np.float32


@overload(is_single, inline="always")
def _is_single_compiled(a):
    single = a.dtype == types.float32
    return lambda a: single


# Every constant is a float32 so that Numba keeps the arithmetic in float32 (a Python float
# is a float64 to it and promotes the whole expression), and NumPy does too with the JIT off.
_F = np.float32
_ZERO, _HALF, _ONE, _TWO = _F(0.0), _F(0.5), _F(1.0), _F(2.0)
_LOG2E = _F(1.4426950408889634)             # 1 / ln 2
_LN2_HI = _F(0.693359375)                   # ln 2 = _LN2_HI + _LN2_LO; _LN2_HI = 355/512 has 9
_LN2_LO = _F(-2.12194440e-4)                # significant bits, so k·_LN2_HI is exact for |k| < 2¹⁵
# exp(r) ≈ 1 + r + r²·(E2 + E3 r + E4 r² + E5 r³ + E6 r⁴) on |r| ≤ 0.347 (ln2/2, and the
# slack of k's rounding). Near-minimax for the relative error: fitted offline in float64
# with NumPy (Lawson's reweighted least squares on 20 001 Chebyshev points), then rounded
# to float32. The polynomial's own error is below 0.08 ulp; the rest is rounding.
_E2, _E3, _E4, _E5, _E6 = _F(0.49999994), _F(0.1666652), _F(0.041668396), _F(0.0083687855), _F(0.0013814456)
# exp's last scaling: 2**(k + 25), then 2**-25. 25 is the least offset that keeps p · 2**(k+25)
# normal (exact) down to k = -150, the last k whose result is not 0 (ln 2⁻¹⁵⁰ ≈ -103.97), and
# puts k + 25 = -127, whose 2**(k+25) from its bits is 0, at k = -152: x in [-105.70, -105.01).
# The clamp must stay in that interval: at k = -153, _pow2(-128) would be -2**127.
_EXP_MIN = _F(-105.5)                       # the clamp: k = -152 there
_TWENTY_FIVE, _TWO_M25 = _F(25.0), _F(2.0 ** -25)
# tanh(x) ≈ x + x³·(T0 + T1 u + … + T5 u⁵), u = x², on |x| < _TANH_POLY_MAX: fitted like
# the exp polynomial (relative error of tanh, 20 001 points), below 0.02 ulp.
_T0, _T1, _T2, _T3, _T4, _T5 = (_F(-0.33333325), _F(0.13332984), _F(-0.053920954), _F(0.02157106),
                                _F(-0.00788331), _F(0.0018956673))
_TANH_POLY_MAX = _F(0.7)                    # below it the exp form errs by up to 2.6 ulp (2e/(1 + e) > 0.4)


@jit_inline
def exp_nonpositive(x):
    """exp(x) for x ≤ 0 in float32 without libm, within 1.0 ulp.

    Cody–Waite range reduction: x = k·ln2 + r with k = round(x / ln2) and |r| ≤ ln2/2;
    x − k·_LN2_HI is exact (both are close and k·_LN2_HI is exact), so r is rounded once, in
    the outer ``fma`` that subtracts the small k·_LN2_LO. Then exp(x) = 2**k · exp(r), exp(r)
    by a polynomial.
    Below x ≈ -87.3 the result is subnormal: ``p · 2**(k+25)`` is exact and normal, and the
    final ``· 2**-25`` rounds once, so subnormal results round like any product; below
    ≈ -103.97 it rounds to 0. x is clamped at -105.5, where ``2**(k+25)`` is 0 (see above), so
    that -inf and every x below give 0 without an underflow (the module's docstring says why).
    NaN stays NaN.
    """
    x = max(np.float32(x), _EXP_MIN)             # NaN passes through
    k = np.floor(fma(x, _LOG2E, _HALF))          # ∈ [-152, 0]
    r = fma(-k, _LN2_LO, fma(-k, _LN2_HI, x))    # x − k·_LN2_HI is exact
    q = fma(fma(fma(fma(_E6, r, _E5), r, _E4), r, _E3), r, _E2)
    p = _ONE + (r + (r * r) * q)                 # exp(r) ∈ [0.70, 1.42]
    return _times_pow2(p, k + _TWENTY_FIVE) * _TWO_M25


@jit_inline
def sigmoid(x, single):
    """Numerically stable logistic function of one value (L2).

    With ``e = exp(-|x|)`` (never overflows): ``1/(1+e)`` for x ≥ 0, ``e/(1+e)`` for x < 0.
    For float64 data (``single`` False) exp is libm's, in float64. For float32 data
    (``single`` True) everything is float32 and exp is ``exp_nonpositive``: within 2.5 ulp,
    subnormal results (x < -87.3) included.

    ``single`` is a run-time bool to Numba (``is_single``), so it types both branches and
    the result (here and in ``tanh``) is float64; a float32 result widens exactly, and
    where the loops store it into float32 data the round trip compiles away.
    """
    if single:
        x = np.float32(x)
        e = exp_nonpositive(-abs(x))
        return (_ONE if x >= _ZERO else e) / (_ONE + e)
    x = np.float64(x)
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


@jit_inline
def tanh(x, single):
    """tanh of one value.

    For float64 data (``single`` False) this is libm's tanh. For float32 data it is
    computed in float32 without libm, within 1.3 ulp, and it vectorises (both branches
    are computed and one selected):

    - |x| < 0.7: the odd polynomial x + x³·R(x²). For tiny |x| (below 2⁻¹², denormals
      included) the cubic term is under half an ulp and the result is x itself.
      ``(1 − e)/(1 + e)`` would cancel here (up to 33 ulp near x = 0.01).
    - |x| ≥ 0.7: 1 − 2e/(1 + e) with e = exp(-2|x|) ≤ 0.25: the rounding errors sit in the
      small correction, not in the result near 1. It is 1 from |x| ≈ 9.01 on, ±inf included.

    The sign is copied from x, so tanh(-0.0) = -0.0; NaN stays NaN.
    """
    if not single:
        return math.tanh(np.float64(x))
    x = np.float32(x)
    ax = abs(x)
    if ax < _TANH_POLY_MAX:
        u = ax * ax
        t = fma(ax * u, fma(fma(fma(fma(fma(_T5, u, _T4), u, _T3), u, _T2), u, _T1), u, _T0), ax)
    else:
        e = exp_nonpositive(-_TWO * ax)
        t = _ONE - _TWO * e / (_ONE + e)
    return np.copysign(t, x)
