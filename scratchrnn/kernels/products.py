"""Matrix products of the time loops, all through one BLAS thread pool.

All BLAS calls of a layer go through Numba's ``np.dot`` (``matmul``, and ``matmul_add_into``
for the per-step products), so that one BLAS thread pool serves the whole layer: mixing
NumPy's and SciPy's OpenBLAS pools makes their idle workers spin against each other
(2–10× slower on 2 cores). For a few rows ``matmul_add_into`` uses its own loops, because
OpenBLAS packs the whole weight matrix on every call, unless its small-matrix kernels take
the product (``blas_small``). Where a pass packs the weights once itself (``panels.py``; on
AVX-512 CPUs for 8–64 rows a block and for one sequence), ``matmul_add_into`` is given them
as panels: a 3-D ``b``. It writes into an output the time loop keeps; ``matmul_add`` is the
same product as a new array.
"""

import numpy as np

from scratchrnn.kernels.jit import jit, jit_fma
from scratchrnn.kernels.panels import columns, panels_add_into


@jit
def matmul(a, b):
    """``a @ b`` for 2-D arrays through Numba's BLAS binding (one pool for all GEMMs).

    Transposed views (F-ordered) are passed to BLAS as a transpose flag, not copied.
    """
    return np.dot(a, b)


# When ``matmul_add_into`` does the per-step product with its own loops instead of BLAS.
# OpenBLAS packs the whole weight matrix on every call, which for a few rows costs more
# than the product. Measured side by side with 2 BLAS threads on OpenBLAS's Haswell kernels
# (Zen 3) for h (N, H) times W_hhᵀ (H, 4H): own loops 0.4x BLAS's time at N=4 for every H,
# 0.6x at N=1 up to H=128; BLAS ahead from N=16 (H ≥ 128) and for one long row
# (N=1, H ≥ 512), where its threads help. Single-threaded, the own loops win up to N=64.
SMALL_N = 8                    # at most this many rows ...
SINGLE_ROW_MAX = 1 << 17       # ... and for one row, a b of at most this many elements
# OpenBLAS's small-matrix kernels (``team.small_matrix_limit``) do not pack: on Zen 4
# (SkylakeX kernels, T=128 calls per shape, float32 and float64, BLAS on 1 or 2 threads) they
# beat the own loops at 2 to 8 rows wherever they take the product: own loops 1.1–2.4x their
# time (rows × 32 × 128 … 8 × 512 × 128; float32 8 × 128 × 512: 87 against 115 GFLOP/s on one
# core). Past their limit the own loops won again (0.23–0.78x at 2–8 rows × 512 × 2048). One
# row is left to the rule above: there the two were within 1.0–1.35x, and the LSTM at
# N=1 H=256 ran 1.2–1.35x slower with BLAS on the copy than on the view it gets now.


@jit
def matmul_into(a, b, out):
    """``out[...] = a @ b`` for 2-D arrays through the same BLAS binding as ``matmul``; returns out.

    For memory kept from call to call (``scratchrnn.workspace``): no fresh array to first-touch.
    """
    np.dot(a, b, out)
    return out


@jit
def own_loops(N, b_size, blas_small):
    """Whether ``matmul_add_into`` multiplies N rows by a ``b`` of ``b_size`` elements itself, where
    BLAS's small-matrix kernels take products of at most ``blas_small`` multiply-adds (0: none)."""
    if 1 < N and N * b_size <= blas_small:
        return False                                 # BLAS's small-matrix kernel is faster
    return N <= SMALL_N and (N > 1 or b_size <= SINGLE_ROW_MAX)


@jit
def takes_own_loops(N, b, blas_small):
    """Whether ``matmul_add_into`` multiplies N rows by the matrix ``b`` in its own loops, on the
    calling thread: where ``own_loops`` picks them and b is C-contiguous; else BLAS does."""
    return own_loops(N, b.size, blas_small) and b.flags.c_contiguous


@jit
def operand_shape(b):
    """(K, M) of a per-step product's b, given as a matrix or as its panels (``panels.py``)."""
    if b.ndim == 3:                                  # a constant to Numba: one branch is compiled
        return columns(b)
    return b.shape


@jit
def matmul_add(c, a, b, blas_small):
    """``c + a @ b`` as a new (N, M) array (``matmul_add_into``, which the time loops call)."""
    M = operand_shape(b)[1]
    return matmul_add_into(np.empty((a.shape[0], M), dtype=a.dtype), c, a, b, blas_small)   # (N, M)


@jit_fma
def matmul_add_into(out, c, a, b, blas_small):
    """``out[...] = c + a @ b``; returns out. a (N, K), b (K, M), c (N, M) or None for zero,
    out (N, M) C-contiguous, overlapping none of them: memory the time loops have anyway (a
    step's rows of the gates or states, the GRU's hw, one of two δ arrays taking turns), so a
    step makes no new array.

    b given as panels (3-D, ``panels.pack_into``): ``panels.panels_add_into``.

    For N ≤ SMALL_N rows (one row: b of at most SINGLE_ROW_MAX elements) and a
    C-contiguous ``b``, our own loops (``_add_four_rows``, ``_add_two_rows``, ``_add_one_row``),
    except for 2 or more rows where the product has at most ``blas_small`` multiply-adds
    (BLAS's small-matrix kernels; 0 where it has none); else BLAS.

    The own loops sum ``a @ b`` from zero and add c last, as BLAS and the panels do: c (the
    input projection forward, the carried gradient back) is often the largest term, and a sum
    that starts at c rounds every later addition at its size. With c first, a GRU's float32
    gradients at one sequence of H = 128 were up to 1.9x as far from the float64 truth as
    torch's (dh0), with c last 0.81–1.00x (benchmarks/results/xeon-avx512-2026-12-07-aligned/
    one_sequence_accuracy.txt).
    """
    if b.ndim == 3:                                  # a constant to Numba: one branch is compiled
        return panels_add_into(out, c, a, b)
    N, K = a.shape
    if (b.shape[0] != K or out.shape != (N, b.shape[1]) or not out.flags.c_contiguous
            or (c is not None and c.shape != out.shape)):
        raise ValueError("matmul_add_into: expected a (N, K), b (K, M), c (N, M) or None and "
                         "a C-contiguous out (N, M)")
    if not takes_own_loops(N, b, blas_small):
        np.dot(a, b, out)
        if c is not None:
            out += c
        return out
    out[...] = 0
    n = 0
    while n + 4 <= N:
        _add_four_rows(out, a, b, n)
        n += 4
    if n + 2 <= N:
        _add_two_rows(out, a, b, n)
        n += 2
    if n < N:
        _add_one_row(out, a, b, n)
    if c is not None:
        out += c                                     # c last: see the docstring
    return out


@jit_fma
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


@jit_fma
def _add_two_rows(out, a, b, n):
    """``out[n:n+2] += a[n:n+2] @ b``, four rows of b at a time: each pass over b serves two
    output rows (two rows as two one-row passes read b twice: 7.4 against 29 GFLOP/s for four
    rows, float64 2 × 512 by 512 × 1536, Intel Xeon). Each row sums in the same order as in
    ``_add_four_rows`` and ``_add_one_row``."""
    K = a.shape[1]
    o0, o1 = out[n], out[n + 1]
    k = 0
    while k + 4 <= K:
        b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
        a00, a01, a02, a03 = a[n, k], a[n, k + 1], a[n, k + 2], a[n, k + 3]
        a10, a11, a12, a13 = a[n + 1, k], a[n + 1, k + 1], a[n + 1, k + 2], a[n + 1, k + 3]
        for j in range(b0.size):
            v0, v1, v2, v3 = b0[j], b1[j], b2[j], b3[j]
            o0[j] += a00 * v0 + a01 * v1 + a02 * v2 + a03 * v3
            o1[j] += a10 * v0 + a11 * v1 + a12 * v2 + a13 * v3
        k += 4
    for k in range(k, K):
        b_k = b[k]
        a0, a1 = a[n, k], a[n + 1, k]
        for j in range(b_k.size):
            o0[j] += a0 * b_k[j]
            o1[j] += a1 * b_k[j]


@jit_fma
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
