"""Matrix products of the time loops, all through one BLAS thread pool.

All BLAS calls of a layer go through Numba's ``np.dot`` (``matmul``, and ``matmul_add``
for the per-step products), so that one BLAS thread pool serves the whole layer: mixing
NumPy's and SciPy's OpenBLAS pools makes their idle workers spin against each other
(2–10× slower on 2 cores). For a few rows ``matmul_add`` uses its own loops, because
OpenBLAS packs the whole weight matrix on every call.
"""

import numpy as np

from scratchrnn.kernels.jit import jit, jit_fma


@jit
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


@jit
def matmul_into(a, b, out):
    """``out[...] = a @ b`` for 2-D arrays through the same BLAS binding as ``matmul``; returns out.

    For memory kept from call to call (``scratchrnn.workspace``): no fresh array to first-touch.
    """
    np.dot(a, b, out)
    return out


@jit
def own_loops(N, b_size):
    """Whether ``matmul_add`` multiplies N rows by a ``b`` of ``b_size`` elements itself."""
    return N <= SMALL_N and (N > 1 or b_size <= SINGLE_ROW_MAX)


@jit_fma
def matmul_add(c, a, b):
    """``c + a @ b`` as a new (N, M) array; a (N, K), b (K, M), c (N, M) or None for zero.

    For N ≤ SMALL_N rows (one row: b of at most SINGLE_ROW_MAX elements) and a
    C-contiguous ``b``, our own loops (``_add_four_rows``, ``_add_one_row``); else BLAS.
    """
    N, K = a.shape
    if b.shape[0] != K or (c is not None and c.shape != (N, b.shape[1])):
        raise ValueError("matmul_add: expected a (N, K), b (K, M) and c (N, M) or None")
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
