"""The gate functions the time loops call (``scratchrnn.kernels.gates``): float64 data on
libm, bit for bit; float32 data in float32 without libm, within their ulp bounds of the
float64 truth over a sweep and, compiled, over every float32 input; their special values
(NaN, ±inf, signed zeros, subnormals); and the fused multiply-add their polynomials use.

CI runs this file twice, as ``test_kernels.py``: jitted, and again with
``NUMBA_DISABLE_JIT=1`` so the very same lines run as plain Python (``-m kernel``).
"""

import math
import os
from fractions import Fraction

import numpy as np
import pytest
from numba import njit, prange

from scratchrnn import kernels
from tolerances import F32_EXP_ULP, F32_SIGMOID_ULP, F32_TANH_ULP, SIGMOID_RTOL

pytestmark = pytest.mark.kernel
JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")


def test_float64_gates_are_libm():
    """float64 data: the stable sigmoid on libm's exp, and libm's tanh, bit for bit.

    No overflow at ±1000 (exp(-1000) underflowing to 0 is the intended result; overflow or
    0/0 would be the bug), and within SIGMOID_RTOL of 1/(1+exp(-x)) where that is safe.
    """
    xs = [-1000.0, -30.0, -1.0, -1e-300, -0.0, 0.0, 1e-300, 1.0, 30.0, 1000.0]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = np.array([kernels.sigmoid(x, False) for x in xs])
    assert s[0] == 0.0 and s[-1] == 1.0
    np.testing.assert_allclose(s[1:-1], 1 / (1 + np.exp(-np.array(xs[1:-1]))), rtol=SIGMOID_RTOL)
    assert all(kernels.sigmoid(x, False) == (1.0 if x >= 0 else math.exp(x)) / (1.0 + math.exp(-abs(x)))
               for x in xs)
    assert np.isnan(kernels.sigmoid(np.nan, False))
    assert all(kernels.tanh(x, False) == math.tanh(x) for x in xs + list(np.linspace(-10, 10, 1001)))


# --- float32 data: exp, sigmoid and tanh in float32, against the float64 truth ------------
# Each gate over an array in a compiled loop, as the kernels call it (error_model="numpy":
# no division check, so the loop vectorises); from Python, one call per value is too slow.

@njit(error_model="numpy")
def _map_exp(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = kernels.exp_nonpositive(x[i])
    return out


@njit(error_model="numpy")
def _map_sigmoid(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = kernels.sigmoid(x[i], True)
    return out


@njit(error_model="numpy")
def _map_tanh(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = kernels.tanh(x[i], True)
    return out


def _near(v, n):
    """The 2n + 1 float32 nearest v (consecutive bit patterns), with v's sign."""
    bits = np.abs(np.float32(v)).view(np.int32) + np.arange(-n, n + 1, dtype=np.int32)
    return np.copysign(bits[bits >= 0].view(np.float32), np.float32(v))


def _spread(lo, hi, n):
    """n float32 from lo to hi > lo > 0, evenly spaced in bit pattern (so about evenly per binade)."""
    a, b = np.float32(lo).view(np.int32), np.float32(hi).view(np.int32)
    return np.linspace(a, b, n).astype(np.int32).view(np.float32)


def _sample(*parts):
    """The sweep as one float32 array. With the JIT off the gates run as Python (µs per value,
    not ns), so that run checks every 20th value: the bound still, on some 50 000 inputs."""
    x = np.concatenate([np.asarray(p, np.float32).ravel() for p in parts])
    return x if JIT else x[::20]


def _ulps(got, exact):
    """|got − exact| in float32 ulps at the exact (float64) value; subnormal spacing below 2⁻¹²⁶."""
    return np.abs(got.astype(np.float64) - exact) / np.abs(np.spacing(exact.astype(np.float32)))


def _sigmoid64(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def _nonpositive():
    """exp's inputs x ≤ 0 (10⁶ and more): the whole range by binade and uniformly, then dense
    runs where the code changes regime: near 0, where k = round(x/ln2) steps (|r| = ln2/2),
    where results become subnormal (ln 2⁻¹²⁶ ≈ -87.34) and round to 0 (ln 2⁻¹⁵⁰ ≈ -103.97),
    where the last scaling's factor becomes 0 (-105.01) and at the clamp (-105.5)."""
    rng = np.random.default_rng(0)
    return np.concatenate([
        -_spread(2.0 ** -30, 110, 600_000), rng.uniform(-110, 0, 300_000), rng.uniform(-104.5, -87, 100_000),
        -_spread(2.0 ** -30, 1e-3, 20_000), *(_near(-(k + 0.5) * math.log(2), 100) for k in range(150)),
        _near(math.log(2.0 ** -126), 5000), _near(math.log(2.0 ** -150), 5000), _near(-104.0, 5000),
        _near(-105.01, 2000), _near(-105.5, 2000),
        [-0.0]]).astype(np.float32)


def test_float32_exp_within_its_bound():
    """exp_nonpositive over > 10⁶ inputs ≤ 0, subnormal results included, within F32_EXP_ULP."""
    x = _sample(_nonpositive())
    assert x.size > 10 ** 6 or not JIT
    got = _map_exp(x)
    assert got.dtype == np.float32
    assert _ulps(got, np.exp(x.astype(np.float64))).max() <= F32_EXP_ULP


def test_float32_sigmoid_within_its_bound():
    """sigmoid(x, single=True) over > 10⁶ inputs of both signs within F32_SIGMOID_ULP: for
    x < -87.3 the exact value is subnormal, and it is the ulp of that range that counts."""
    neg = _nonpositive()
    x = _sample(neg, -neg[(neg > -18) & (neg < 0)], _near(0.0, 5000), _near(-0.0, 5000))
    assert x.size > 10 ** 6 or not JIT
    got = _map_sigmoid(x)
    assert _ulps(got, _sigmoid64(x.astype(np.float64))).max() <= F32_SIGMOID_ULP


def test_float32_tanh_within_its_bound():
    """tanh(x, single=True) over > 10⁶ inputs of both signs within F32_TANH_ULP, densely near
    0, where the polynomial hands over to the exp form (0.7), near 2⁻¹² (below it tanh(x)
    rounds to x) and near 9.01 (above it tanh rounds to 1)."""
    rng = np.random.default_rng(1)
    mag = np.concatenate([_spread(2.0 ** -30, 10, 700_000), rng.uniform(0, 10, 300_000),
                          _near(0.7, 20_000), _near(2.0 ** -12, 5000), _near(9.01, 5000), _near(0.0, 5000)])
    x = _sample(mag * np.where(rng.random(mag.size) < 0.5, -1, 1).astype(np.float32))
    assert x.size > 10 ** 6 or not JIT
    got = _map_tanh(x)
    assert _ulps(got, np.tanh(x.astype(np.float64))).max() <= F32_TANH_ULP


@pytest.mark.skipif(not JIT, reason="compares the jitted gates with .py_func, which needs the JIT on")
def test_float32_gates_python_bodies_agree_with_compiled():
    """The same source run as Python (NumPy float32 scalars; 2**k as a float32 power instead
    of its bits) gives the compiled results bit for bit."""
    x = np.random.default_rng(2).uniform(-110, 20, 3000).astype(np.float32)
    neg = -np.abs(x)
    assert np.array_equal(_map_exp(neg), [kernels.exp_nonpositive.py_func(v) for v in neg])
    assert np.array_equal(_map_sigmoid(x), [kernels.sigmoid.py_func(v, True) for v in x])
    assert np.array_equal(_map_tanh(x / 10), [kernels.tanh.py_func(v, True) for v in x / 10])


def _fma_exact(a, b, c):
    """a·b + c rounded once to float32, from the exact rational value: the nearest of the
    float32 around float64's rounding of it, ties to the even significand."""
    q = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    f = np.float32(float(q))
    near = [f, np.nextafter(f, np.float32(np.inf)), np.nextafter(f, np.float32(-np.inf))]
    return min(near, key=lambda v: (abs(Fraction(float(v)) - q), int(np.float32(v).view(np.int32)) & 1))


@njit(error_model="numpy")
def _map_fma(a, b, c):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = kernels.gates.fma(a[i], b[i], c[i])
    return out


def test_fma_rounds_once():
    """``gates.fma`` compiled (LLVM's fma) and as Python (float64 rounded to odd) give a·b + c
    rounded once. The first case rounds twice through float64: (1 + 2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴
    is a float32 midpoint, and + 2⁻⁵⁴ falls below float64's half ulp, so float64 rounds back
    to the midpoint and float32's ties-to-even then rounds down; once, it rounds up."""
    f32 = np.float32
    u = f32(1 + 2.0 ** -12)
    hard = [(u, u, f32(2.0 ** -54)), (u, u, f32(-2.0 ** -54)), (-u, u, f32(2.0 ** -54))]
    fma = kernels.gates.fma                      # the Python body: the compiled one is its overload
    assert fma(*hard[0]) == f32(1 + 2.0 ** -11 + 2.0 ** -23)
    rng = np.random.default_rng(3)
    a, b, c = (rng.standard_normal(2000).astype(f32) * f32(2.0) ** rng.integers(-30, 30, 2000).astype(f32)
               for _ in range(3))
    c[:500] = -(a[:500] * b[:500])                # a·b + c is a·b's rounding error: cancellation
    a[500:1000] *= f32(2.0 ** -70)                # a·b near 2⁻¹⁴⁰ and c near 2⁻¹⁴⁰: subnormal results
    b[500:1000] *= f32(2.0 ** -70)
    c[500:1000] = (rng.standard_normal(500) * 2.0 ** -140).astype(f32)
    a, b, c = (np.concatenate([v, [h[i] for h in hard]]).astype(f32) for i, v in enumerate((a, b, c)))
    want = np.array([_fma_exact(*t) for t in zip(a, b, c)], dtype=f32)
    assert np.array_equal(_map_fma(a, b, c), want)
    assert np.array_equal(np.array([fma(*t) for t in zip(a, b, c)], dtype=f32), want)
    assert np.isnan(fma(f32("nan"), f32(1), f32(1))) and fma(f32("inf"), f32(1), f32(1)) == np.inf
    # Signed zeros, which a Fraction does not carry: -0 + -0 is -0; an exact cancellation is +0.
    zeros = [(f32(1), f32(-0.0), f32(-0.0), -1.0), (f32(-0.0), f32(2), f32(0.0), 1.0), (u, u, -(u * u), None)]
    for x, y, z, sign in zeros:
        for got in (fma(x, y, z), _map_fma(np.array([x]), np.array([y]), np.array([z]))[0]):
            if sign is None:                      # u·u − fl(u·u): the rounding error, not zero
                assert got == _fma_exact(x, y, z) and got != 0
            else:
                assert got == 0 and math.copysign(1, got) == sign


_TINY = np.float32(1e-45)                                      # the smallest subnormal, 2⁻¹⁴⁹


@pytest.mark.parametrize("run", ["compiled", "python"])
def test_float32_gates_special_values(run):
    """NaN stays NaN; ±inf and ±0 give the limits; denormal inputs give σ = 0.5 and tanh(x) = x,
    with the sign of -0.0 kept."""
    if run == "python" and not JIT:
        pytest.skip("with the JIT off, 'compiled' already runs the Python bodies")
    pick = (lambda f: f.py_func) if run == "python" else (lambda f: f)
    exp, sigmoid, tanh = pick(kernels.exp_nonpositive), pick(kernels.sigmoid), pick(kernels.tanh)
    f32 = np.float32
    assert np.isnan(exp(f32("nan"))) and np.isnan(sigmoid(f32("nan"), True)) and np.isnan(tanh(f32("nan"), True))
    assert exp(f32("-inf")) == 0 and exp(f32(-104)) == 0 and exp(f32(-103.9)) > 0
    assert exp(f32(-105.5)) == 0 and exp(f32(-1e30)) == 0 and exp(f32(-3e38)) == 0   # at and below the clamp
    assert exp(f32(-0.0)) == 1 and exp(-_TINY) == 1
    assert sigmoid(f32("inf"), True) == 1 and sigmoid(f32("-inf"), True) == 0
    assert sigmoid(f32(1000), True) == 1 and sigmoid(f32(-1000), True) == 0
    for v in (0.0, -0.0, _TINY, -_TINY, f32(2.0 ** -127)):
        assert sigmoid(f32(v), True) == 0.5
    assert tanh(f32("inf"), True) == 1 and tanh(f32("-inf"), True) == -1
    for v in (10, 50, 1000):                     # exp(-2|x|) normal, subnormal, 0
        assert tanh(f32(v), True) == 1 and tanh(f32(-v), True) == -1
    for v in (0.0, -0.0, _TINY, -_TINY, f32(2.0 ** -127), f32(-1e-30)):
        t = tanh(f32(v), True)
        assert t == v and math.copysign(1, t) == math.copysign(1, v)


def test_float32_exp_below_its_range_is_zero():
    """Below ln 2⁻¹⁵⁰ ≈ -103.97 exp rounds to 0, compiled and as Python: from x < -105.01 on (the
    clamp, -105.5, and -inf included) by a factor 2**(k+25) of 0, and between the two by a scaling
    that underflows. The values only; the next test tells the two ways apart."""
    below = _sample(-_spread(103.98, 3e38, 200_000), _near(-105.01, 5000), _near(-105.5, 5000), [-np.inf])
    assert below.max() < -103.97 and not _map_exp(below).any()
    if JIT:                                      # with the JIT off, _map_exp ran the Python body already
        assert not any(kernels.exp_nonpositive.py_func(v) for v in below[::50])


@njit(error_model="numpy")
def _times_pow2_compiled(p, k):
    return kernels.gates._times_pow2(p, k)


def test_float32_exp_below_its_range_does_not_underflow():
    """At and below -105.01 exp is 0 by a factor of 0, not by an underflow (which costs a
    microcode assist on Intel CPUs, ``gates``' docstring): ``2**(k+25)`` at k = -152 is the number
    0, all bits clear, compiled and as Python; exp's Python body (the same operations, in NumPy
    float32) raises no underflow there with NumPy's underflow errors on, and does at -104.5, where
    the last scaling still underflows (the check can tell)."""
    f32 = np.float32
    for got in (_times_pow2_compiled(f32(1.3), f32(-127)), kernels.gates._times_pow2(f32(1.3), f32(-127))):
        assert f32(got).view(np.uint32) == 0
    exp = kernels.exp_nonpositive.py_func if JIT else kernels.exp_nonpositive
    with np.errstate(under="raise"):
        for v in (-105.02, -105.5, -200.0, -1e30, -np.inf):
            assert exp(f32(v)) == 0
        with pytest.raises(FloatingPointError):
            exp(f32(-104.5))


# --- every float32 input: the bounds as measured, not sampled -------------------------------

@njit(inline="always")
def _spacing32(y):
    """The float32 ulp at |y| (a float64): 2^(e − 24) for |y| in [2^(e−1), 2^e), 2⁻¹⁴⁹ below 2⁻¹²⁶."""
    _, e = math.frexp(abs(y))
    return math.ldexp(1.0, max(e - 24, -149))


@njit(parallel=True, error_model="numpy")
def _largest_ulps(lo_bits, hi_bits, sign, which, nchunks):
    """The largest error, in float32 ulps at the float64 truth, of exp_nonpositive (which 0),
    sigmoid (1) or tanh (2) over every float32 ``sign · v``, v from the bit pattern lo_bits to
    hi_bits; and the input where it occurs."""
    n = hi_bits - lo_bits + 1
    worst, where = np.zeros(nchunks), np.zeros(nchunks, np.float32)
    for chunk in prange(nchunks):
        bits = np.empty(1, np.int32)
        value = bits.view(np.float32)
        for i in range(lo_bits + chunk * n // nchunks, lo_bits + (chunk + 1) * n // nchunks):
            bits[0] = i
            x = value[0] * np.float32(sign)
            xd = np.float64(x)
            if which == 0:
                got, exact = np.float64(kernels.exp_nonpositive(x)), math.exp(xd)
            elif which == 1:                         # the truth: the float64 sigmoid, on libm's exp
                got, exact = np.float64(np.float32(kernels.sigmoid(x, True))), kernels.sigmoid(xd, False)
            else:
                got, exact = np.float64(np.float32(kernels.tanh(x, True))), math.tanh(xd)
            ulps = abs(got - exact) / _spacing32(exact)
            if ulps != ulps:                         # NaN for a finite input: worse than any error
                ulps = np.inf
            if ulps > worst[chunk]:
                worst[chunk], where[chunk] = ulps, x
    k = np.argmax(worst)
    return worst[k], where[k]


@pytest.mark.skipif(not JIT, reason="2.8e8 to 3.1e8 inputs per range: seconds compiled, days as Python")
@pytest.mark.parametrize("name, which, sign, hi, bound", [
    ("exp", 0, -1, 106.0, F32_EXP_ULP), ("sigmoid", 1, -1, 106.0, F32_SIGMOID_ULP),
    ("sigmoid", 1, 1, 18.0, F32_SIGMOID_ULP), ("tanh", 2, 1, 9.5, F32_TANH_ULP)])
def test_float32_gates_within_their_bounds_for_every_input(name, which, sign, hi, bound):
    """Every float32 input from ±2⁻³⁰ to ±hi (2.8e8 to 3.1e8 of them): outside these ranges
    the results are exactly 0, ½, 1, ±1 or x (spot-checked by the special-value test above).
    tanh is odd (its sign is copied), so its positive half covers both. Takes a few seconds
    per range on 2 cores."""
    lo_bits, hi_bits = (int(np.float32(v).view(np.int32)) for v in (2.0 ** -30, hi))
    worst, where = _largest_ulps(lo_bits, hi_bits, sign, which, 64)
    assert worst <= bound, f"{name}({where!r}) errs by {worst:.4f} ulp > {bound}"
