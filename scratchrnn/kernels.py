"""Numba time loops: only the inherently sequential part of each recurrence.

Everything that does not depend on the previous hidden state (the input
projection, the weight gradients, ``dx``) is a single GEMM outside these loops
(see ``scratchrnn.functional``). What is left here per step is ``h W_hhᵀ`` (or
``da W_hh`` going back) and the elementwise gate maths.

The kernels are plain NumPy that Numba compiles. With ``NUMBA_DISABLE_JIT=1``
the very same lines run as Python, so a reader can step through BPTT in a
debugger. Equation labels, e.g. ``(L7)``, refer to ``docs/derivations.md``.

Conventions (STYLE.md): time-major, C-contiguous arrays; ``h`` is preallocated
as ``(T+1, N, H)`` with ``h[0] = h0`` so ``h[t]`` is the state *before* step
``t`` and ``h[t+1]`` the state after it; one dtype end to end in every array (the
scalar gate maths are evaluated in float64 and stored in the data's dtype, so float32
results are the correctly rounded ones).

All BLAS calls of a layer go through Numba's ``np.dot`` (``matmul``, and
``matmul_add`` for the per-step products, which does products of a few rows with
its own loops) so that one BLAS thread pool serves the whole layer; mixing NumPy's
and SciPy's OpenBLAS pools makes their idle workers spin against each other
(PERF_NOTES.md, point 1). For float32 data the gate maths avoid libm, so that
their loops vectorise (``exp_nonpositive``).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# error_model="numpy": division by zero gives inf/nan like NumPy instead of raising,
# with no per-division check in the loops.
# cache=True: compiled code is kept on disk; compiling from an empty cache takes a few
# seconds per model (benchmarks/grid.py measures it on its own).
_jit = njit(cache=True, error_model="numpy")


@_jit
def matmul(a, b):
    """``a @ b`` for 2-D arrays through Numba's BLAS binding (one pool for all GEMMs).

    Transposed views (F-ordered) are passed to BLAS as a transpose flag, not copied.
    """
    return np.dot(a, b)


# When ``matmul_add`` does the per-step product with its own loops instead of BLAS.
# OpenBLAS packs the whole weight matrix on every call, which for a few rows costs more
# than the product. Measured side by side with 2 BLAS threads (this machine's default)
# for h (N, H) times W_hhᵀ (H, 4H): own loops 0.4x BLAS's time at N=4 for every H,
# 0.6x at N=1 up to H=128; BLAS ahead from N=16 (H ≥ 128) and for one long row
# (N=1, H ≥ 512), where its threads help. Single-threaded, the own loops win up to N=64.
SMALL_N = 8                    # at most this many rows ...
SINGLE_ROW_MAX = 1 << 17       # ... and for one row, a b of at most this many elements


@_jit
def own_loops(N, b_size):
    """Whether ``matmul_add`` multiplies N rows by a ``b`` of ``b_size`` elements itself."""
    return N <= SMALL_N and (N > 1 or b_size <= SINGLE_ROW_MAX)


_jit_fma = njit(cache=True, error_model="numpy", fastmath={"contract"})   # may fuse a·b + c into an FMA


@_jit_fma
def matmul_add(c, a, b):
    """``c + a @ b`` as a new (N, M) array; a (N, K), b (K, M), c (N, M) or None for zero.

    For N ≤ SMALL_N rows (one row: b of at most SINGLE_ROW_MAX elements) and a
    C-contiguous ``b``, our own loops (``_add_four_rows``, ``_add_one_row``); else BLAS.
    """
    N, K = a.shape
    if not (own_loops(N, b.size) and b.flags.c_contiguous):
        if c is None:
            return np.dot(a, b)
        return c + np.dot(a, b)
    if c is None:
        out = np.zeros((N, b.shape[1]), dtype=a.dtype)   # (N, M)
    else:
        out = c.copy()                               # (N, M)
    n = 0
    while n + 4 <= N:
        _add_four_rows(out, a, b, n)
        n += 4
    for r in range(n, N):
        _add_one_row(out, a, b, r)
    return out


@_jit_fma
def _add_four_rows(out, a, b, n):
    """``out[n:n+4] += a[n:n+4] @ b``, four rows of b at a time.

    Each pass of the inner loop reads four rows of ``b`` once for four output rows:
    16 multiply-adds per four loads and four stores, and it vectorises along M.
    """
    K = a.shape[1]
    o0, o1, o2, o3 = out[n], out[n + 1], out[n + 2], out[n + 3]
    k = 0
    while k + 4 <= K:
        b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
        a00, a01, a02, a03 = a[n, k], a[n, k + 1], a[n, k + 2], a[n, k + 3]
        a10, a11, a12, a13 = a[n + 1, k], a[n + 1, k + 1], a[n + 1, k + 2], a[n + 1, k + 3]
        a20, a21, a22, a23 = a[n + 2, k], a[n + 2, k + 1], a[n + 2, k + 2], a[n + 2, k + 3]
        a30, a31, a32, a33 = a[n + 3, k], a[n + 3, k + 1], a[n + 3, k + 2], a[n + 3, k + 3]
        for j in range(b0.size):
            v0, v1, v2, v3 = b0[j], b1[j], b2[j], b3[j]
            o0[j] += a00 * v0 + a01 * v1 + a02 * v2 + a03 * v3
            o1[j] += a10 * v0 + a11 * v1 + a12 * v2 + a13 * v3
            o2[j] += a20 * v0 + a21 * v1 + a22 * v2 + a23 * v3
            o3[j] += a30 * v0 + a31 * v1 + a32 * v2 + a33 * v3
        k += 4
    for k in range(k, K):
        b_k = b[k]
        a0, a1, a2, a3 = a[n, k], a[n + 1, k], a[n + 2, k], a[n + 3, k]
        for j in range(b_k.size):
            o0[j] += a0 * b_k[j]
            o1[j] += a1 * b_k[j]
            o2[j] += a2 * b_k[j]
            o3[j] += a3 * b_k[j]


@_jit_fma
def _add_one_row(out, a, b, r):
    """``out[r] += a[r] @ b``, four rows of b at a time."""
    K = a.shape[1]
    o = out[r]
    k = 0
    while k + 4 <= K:
        b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
        a0, a1, a2, a3 = a[r, k], a[r, k + 1], a[r, k + 2], a[r, k + 3]
        for j in range(b0.size):
            o[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]
        k += 4
    for k in range(k, K):
        b_k = b[k]
        a_k = a[r, k]
        for j in range(b_k.size):
            o[j] += a_k * b_k[j]


# ---------------------------------------------------------------------------
# Gate functions of one value. For float32 data they avoid libm so that LLVM can
# vectorise the loops that call them (this Numba has no SVML: a libm call costs
# ~20 ns and keeps the loop scalar, PERF_NOTES.md point 2). They still compute in
# float64, so the float32 results are the correctly rounded ones. For float64
# data they call libm's exp/tanh, the reference.
# ---------------------------------------------------------------------------

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


# Inlined into the loops that call them (Numba IR inlining): LLVM's own inliner found them
# too big at several call sites, and an out-of-line call keeps a loop scalar.
_jit_inline = njit(cache=True, error_model="numpy", inline="always")


@_jit_inline
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


@_jit_inline
def sigmoid(x, single):
    """Numerically stable logistic function of one value, in float64 (L2).

    With ``e = exp(-|x|)`` (never overflows): ``1/(1+e)`` for x ≥ 0, ``e/(1+e)`` for x < 0.
    ``single`` (float32 data): exp without libm, see ``exp_nonpositive``.
    """
    x = np.float64(x)
    e = exp_nonpositive(-abs(x)) if single else math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


@_jit_inline
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


@_jit
def _freeze(state, t, lengths):
    """Sequences that ended before step t keep their state: ``s[t+1, n] = s[t, n]`` (V1)."""
    for n in range(state.shape[1]):
        if t >= lengths[n]:
            state[t + 1, n] = state[t, n]


@_jit
def _pass_through(new_delta, delta, t, lengths):
    """A frozen state is a copy, so its gradient passes back unchanged: ``δ_{t-1} = δ_t`` (V2)."""
    for n in range(delta.shape[0]):
        if t >= lengths[n]:
            new_delta[n] = delta[n]


# ---------------------------------------------------------------------------
# Vanilla RNN:  h_t = φ(x_t W_ihᵀ + b_ih + b_hh + h_{t-1} W_hhᵀ),  φ = tanh | relu
# ---------------------------------------------------------------------------

@_jit
def rnn_forward_kernel(xw, w_hh_t, h, relu, lengths):
    """Run the RNN recurrence in place.

    xw:      (T, N, H) input projection ``x W_ihᵀ + b_ih + b_hh`` for every step
    w_hh_t:  (H, H)    ``W_hhᵀ`` (a transposed view is fine)
    h:       (T+1, N, H) with ``h[0] = h0`` on entry; ``h[1:]`` is written
    relu:    bool      φ = relu if True else tanh
    lengths: (N,)      valid steps per sequence (T for all without padding); past its
             end a sequence's state is frozen (V1), so h[T] is its state at its own end
    """
    T, N, H = xw.shape
    single = is_single(xw)                           # float32 data: tanh without libm (vectorised)
    for t in range(T):
        a = matmul_add(xw[t], h[t], w_hh_t)          # (N, H)   (R1)
        for n in range(N):
            a_n, h_n = a[n], h[t + 1, n]
            if relu:
                for j in range(H):
                    h_n[j] = max(a_n[j], 0)          # (R2)
            else:
                for j in range(H):
                    h_n[j] = tanh(a_n[j], single)    # (R2)
        _freeze(h, t, lengths)                       # (V1)


@_jit
def rnn_backward_kernel(d_out, d_h_n, w_hh, h, relu, lengths, d_a, dh_all):
    """Carry ``dh`` back through time; write every step's ``da`` for the GEMMs after the loop.

    d_out: (T, N, H) upstream gradient of every output ``h_t``
    d_h_n: (N, H)    upstream gradient of the final state ``h_T``
    w_hh:  (H, H)    ``W_hh`` itself (not transposed): ``δ_{t-1} = da_t W_hh``
    h:     (T+1, N, H) states from the forward
    lengths: (N,)    valid steps per sequence, as in the forward
    d_a:   (T, N, H) output: gradient of the pre-activations
    dh_all: (T, N, H) output: total gradient reaching each h_t (what gradflow plots)
    Returns dh0 (N, H).
    """
    T, N, H = d_out.shape
    delta = d_h_n.copy()                             # (N, H)   δ_T = dh_n (given) (R3)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            if t >= lengths[n]:                      # padded step: its output is a constant 0 (V2)
                dh_all[t, n] = delta[n]
                d_a[t, n] = 0
                continue
            for j in range(H):
                dh = d_out[t, n, j] + delta[n, j]               # dh_t = dy_t + δ_t  (R3)
                dh_all[t, n, j] = dh
                h_t = h[t + 1, n, j]
                if relu:
                    d_a[t, n, j] = dh if h_t > 0 else 0          # relu' = 1[h_t > 0] (R4)
                else:
                    d_a[t, n, j] = dh * (1 - h_t * h_t)          # tanh' = 1 − h_t²   (R4)
        new_delta = matmul_add(None, d_a[t], w_hh)   # (N, H)   δ_{t-1} = da_t W_hh (R5)
        _pass_through(new_delta, delta, t, lengths)  # (V2)
        delta = new_delta
    return delta                                     # (N, H)   dh_0 = δ_0          (R5)


# ---------------------------------------------------------------------------
# LSTM, gate order i, f, g, o (torch's)
# ---------------------------------------------------------------------------

@_jit
def lstm_forward_kernel(xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths):
    """Run the LSTM recurrence in place, caching what the backward needs.

    xw:     (T, N, 4H) input projection ``x W_ihᵀ + b_ih + b_hh`` for every step
    w_hh_t: (P, 4H)    ``W_hhᵀ`` (a transposed view is fine); P = H without a projection
    w_hr_t: (H, P)     ``W_hrᵀ`` of the projection, or an empty (H, 0) array without one
    h, c:   (T+1, N, P), (T+1, N, H) with ``h[0] = h0``, ``c[0] = c0``; ``[1:]`` is written
    m:      (T, N, H)  output: ``o ⊙ tanh(c_t)``; without a projection pass ``h[1:]``
    gates:  (T, N, 4H) output: post-activation gates [i, f, g, o]
    tanh_c: (T, N, H)  output: tanh(c_t)
    lengths: (N,)      valid steps per sequence; past its end a sequence's h and c are frozen (V1)
    """
    T, N, G = xw.shape
    H = G // 4
    project = w_hr_t.shape[1] > 0
    single = is_single(xw)                           # float32 data: gate maths without libm
    act = np.empty((N, G))                           # (N, 4H)  gates in float64, before rounding
    c64 = np.empty(H)                                # (H,)     c_t of one row in float64
    tc64 = np.empty(H)                               # (H,)     tanh(c_t) of one row in float64
    # Each inner loop writes one array and reads a few: LLVM vectorises such loops (a
    # single fused loop writing six arrays stayed scalar), and the float64 buffers keep
    # every product as exact as in a fused loop.
    for t in range(T):
        a = matmul_add(xw[t], h[t], w_hh_t)          # (N, 4H)  (L1)
        for n in range(N):
            a_n, act_n = a[n], act[n]
            for j in range(2 * H):
                act_n[j] = sigmoid(a_n[j], single)   # input and forget gates i, f   (L2)
            for j in range(2 * H, 3 * H):
                act_n[j] = tanh(a_n[j], single)      # cell candidate g              (L2)
            for j in range(3 * H, G):
                act_n[j] = sigmoid(a_n[j], single)   # output gate o                 (L2)
            gates_n = gates[t, n]
            for j in range(G):
                gates_n[j] = act_n[j]                # (4H,)   rounded to the data's dtype
            c_prev, c_n = c[t, n], c[t + 1, n]
            for j in range(H):
                c64[j] = act_n[H + j] * c_prev[j] + act_n[j] * act_n[2 * H + j]    # (L3)
            for j in range(H):
                c_n[j] = c64[j]
            tanh_c_n = tanh_c[t, n]
            for j in range(H):
                tc64[j] = tanh(c64[j], single)
            for j in range(H):
                tanh_c_n[j] = tc64[j]
            m_n = m[t, n]
            for j in range(H):
                m_n[j] = act_n[3 * H + j] * tc64[j]  # (L4); this is h[t+1] without a projection
        if project:
            h[t + 1] = matmul(m[t], w_hr_t)          # (N, P)   h_t = m_t W_hrᵀ     (P1)
        _freeze(h, t, lengths)                       # (V1)
        _freeze(c, t, lengths)


@_jit
def lstm_backward_kernel(d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh_all):
    """Carry ``dh`` and ``dc`` back through time; write every step's ``da``.

    d_out:  (T, N, P)  upstream gradient of every output ``h_t`` (P = H without a projection)
    d_h_n:  (N, P)     upstream gradient of the final ``h_T``
    d_c_n:  (N, H)     upstream gradient of the final ``c_T``
    w_hh:   (4H, P)    ``W_hh`` itself: ``δ_{t-1} = da_t W_hh``
    w_hr:   (P, H)     the projection ``W_hr``, or an empty (0, H) array without one
    c:      (T+1, N, H) cell states from the forward
    gates:  (T, N, 4H) post-activation gates [i, f, g, o] from the forward
    tanh_c: (T, N, H)  tanh(c_t) from the forward
    lengths: (N,)      valid steps per sequence, as in the forward
    d_a:    (T, N, 4H) output: gradient of the pre-activations
    dh_all: (T, N, P)  output: total gradient reaching each h_t (gradflow plots it; (P3) uses it)
    Returns (dh0, dc0), shapes (N, P) and (N, H).
    """
    T, N, H = tanh_c.shape
    project = w_hr.shape[0] > 0
    delta = d_h_n.copy()                             # (N, P)   δ_T = dh_n (given)        (L5)
    gamma = d_c_n.copy()                             # (N, H)   γ_T = dc_n (given)        (L7)
    for t in range(T - 1, -1, -1):
        dh_all[t] = d_out[t] + delta                 # (N, P)   dh_t = dy_t + δ_t         (L5)
        for n in range(N):
            if t >= lengths[n]:                      # padded step: its output is a constant 0 (V2)
                dh_all[t, n] = delta[n]
        dm = matmul(dh_all[t], w_hr) if project else dh_all[t]   # (N, H)  dm_t = dh_t W_hr  (P2)
        for n in range(N):
            if t >= lengths[n]:                      # frozen: no gate saw this step, γ passes (V2)
                d_a[t, n] = 0
                continue
            # One array written per loop so that each vectorises (as in the forward);
            # gamma holds dc_t between the first and last loop.
            gates_n, tc, c_prev, dh, gam, da = gates[t, n], tanh_c[t, n], c[t, n], dm[n], gamma[n], d_a[t, n]
            for j in range(H):                       # dh is dh_t itself without a projection
                o = gates_n[3 * H + j]
                gam[j] = gam[j] + dh[j] * o * (1 - tc[j] * tc[j])                 # dc_t  (L7)
            for j in range(H):
                i, g = gates_n[j], gates_n[2 * H + j]
                da[j] = gam[j] * g * i * (1 - i)                                   # da^i  (L8)
            for j in range(H):
                f = gates_n[H + j]
                da[H + j] = gam[j] * c_prev[j] * f * (1 - f)                       # da^f  (L8)
            for j in range(H):
                i, g = gates_n[j], gates_n[2 * H + j]
                da[2 * H + j] = gam[j] * i * (1 - g * g)                           # da^g  (L8)
            for j in range(H):
                o = gates_n[3 * H + j]
                da[3 * H + j] = dh[j] * tc[j] * o * (1 - o)                        # da^o  (L6)
            for j in range(H):
                gam[j] = gam[j] * gates_n[H + j]                                   # γ_{t-1} = dc_t ⊙ f_t  (L9)
        new_delta = matmul_add(None, d_a[t], w_hh)   # (N, P)   δ_{t-1} = da_t W_hh       (L10)
        _pass_through(new_delta, delta, t, lengths)  # (V2)
        delta = new_delta
    return delta, gamma                              # dh_0 = δ_0, dc_0 = γ_0


# ---------------------------------------------------------------------------
# GRU, gate order r, z, n (torch's), with b_hn inside r ⊙ (h W_hnᵀ + b_hn)
# ---------------------------------------------------------------------------

@_jit
def gru_forward_kernel(xw, w_hh_t, b_hh, h, gates, hw_n, lengths):
    """Run the GRU recurrence in place, caching what the backward needs.

    xw:     (T, N, 3H) input part ``x W_ihᵀ + b_ih`` for every step (b_hh is NOT in it)
    w_hh_t: (H, 3H)    ``W_hhᵀ`` (a transposed view is fine)
    b_hh:   (3H,)      recurrent bias (zeros without bias)
    h:      (T+1, N, H) with ``h[0] = h0`` on entry; ``h[1:]`` is written
    gates:  (T, N, 3H) output: post-activation gates [r, z, n]
    hw_n:   (T, N, H)  output: a^h_n = h_{t-1} W_hnᵀ + b_hn, the term r multiplies
    lengths: (N,)      valid steps per sequence; past its end a sequence's state is frozen (V1)
    """
    T, N, G = xw.shape
    H = G // 3
    single = is_single(xw)                           # float32 data: gate maths without libm
    act = np.empty((N, G))                           # (N, 3H)  gates in float64, before rounding
    # One array written per inner loop, so LLVM vectorises them (see lstm_forward_kernel).
    for t in range(T):
        a_h = matmul_add(None, h[t], w_hh_t)         # (N, 3H)  h_{t-1} W_hhᵀ       (G1)
        for n in range(N):
            xw_n, ah_n, act_n, hwn = xw[t, n], a_h[n], act[n], hw_n[t, n]
            for j in range(2 * H):
                act_n[j] = sigmoid(xw_n[j] + ah_n[j] + b_hh[j], single)        # r, z  (G2)
            for j in range(H):
                hwn[j] = ah_n[2 * H + j] + b_hh[2 * H + j]                      # a^h_n
            for j in range(H):
                act_n[2 * H + j] = tanh(xw_n[2 * H + j] + act_n[j] * hwn[j], single)  # n_t (G3)
            gates[t, n] = act_n                      # (3H,)   rounded to the data's dtype
            h_prev, h_new = h[t, n], h[t + 1, n]
            for j in range(H):
                z = act_n[H + j]
                h_new[j] = (1 - z) * act_n[2 * H + j] + z * h_prev[j]          # (G4)
        _freeze(h, t, lengths)                       # (V1)


@_jit
def gru_backward_kernel(d_out, d_h_n, w_hh, h, gates, hw_n, lengths, d_ax, d_ah, dh_all):
    """Carry ``dh`` back through time; write every step's gradients of both pre-activations.

    d_out: (T, N, H)  upstream gradient of every output ``h_t``
    d_h_n: (N, H)     upstream gradient of the final state
    w_hh:  (3H, H)    ``W_hh`` itself
    h:     (T+1, N, H) states from the forward
    gates: (T, N, 3H) post-activation [r, z, n] from the forward
    hw_n:  (T, N, H)  a^h_n from the forward
    lengths: (N,)     valid steps per sequence, as in the forward
    d_ax:  (T, N, 3H) output: gradient of the input part a^x (for dW_ih, db_ih, dx)
    d_ah:  (T, N, 3H) output: gradient of the recurrent part a^h (for dW_hh, db_hh)
    dh_all: (T, N, H) output: total gradient reaching each h_t (what gradflow plots)
    Returns dh0 (N, H).
    """
    T, N, H = d_out.shape
    delta = d_h_n.copy()                             # (N, H)   δ_T = dh_n (given)  (G5)
    for t in range(T - 1, -1, -1):
        direct = np.zeros((N, H), dtype=d_out.dtype) # (N, H)   dh_t ⊙ z_t, first path of (G9)
        for n in range(N):
            if t >= lengths[n]:                      # padded step: its output is a constant 0 (V2)
                dh_all[t, n] = delta[n]
                d_ax[t, n] = 0
                d_ah[t, n] = 0
                continue
            for j in range(H):
                r = gates[t, n, j]
                z = gates[t, n, H + j]
                g = gates[t, n, 2 * H + j]
                dh = d_out[t, n, j] + delta[n, j]                        # (G5)
                dh_all[t, n, j] = dh
                dn = dh * (1 - z)                                        # (G6)
                dz = dh * (h[t, n, j] - g)                               # (G6)
                dan = dn * (1 - g * g)                                   # da^x_n  (G7)
                dr = dan * hw_n[t, n, j]                                 # (G7)
                dar = dr * r * (1 - r)                                   # (G8)
                daz = dz * z * (1 - z)                                   # (G8)
                d_ax[t, n, j] = dar
                d_ax[t, n, H + j] = daz
                d_ax[t, n, 2 * H + j] = dan
                d_ah[t, n, j] = dar
                d_ah[t, n, H + j] = daz
                d_ah[t, n, 2 * H + j] = dan * r                          # da^h_n  (G7)
                direct[n, j] = dh * z
        new_delta = matmul_add(direct, d_ah[t], w_hh)  # (N, H)  δ_{t-1}             (G9)
        _pass_through(new_delta, delta, t, lengths)  # (V2)
        delta = new_delta
    return delta
