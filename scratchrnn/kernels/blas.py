"""The GEMMs that Numba's ``np.dot`` cannot ask for: a product added into its output.

``np.dot(a, b, out)`` overwrites ``out`` (BLAS's beta = 0). A sum of products taken chunk
by chunk (``sums.product_in_chunks``) then needs each chunk's product in scratch memory and
a pass that adds it into the sum, reading and writing the whole sum once more per chunk.
``add_product_t`` (``out += aᵀ b``) asks BLAS's GEMM for beta = 1 instead, and BLAS adds
each product into ``out`` as it stores it. Where a chunk fits one of BLAS's inner blocks (a
few hundred rows; OpenBLAS adds a longer product into its output block by block), each
chunk's product is still rounded once and then added, so the sum is the same: bit for bit
with OpenBLAS's SkylakeX kernels at chunks of 32 and 128 rows. And the extra pass is gone:
measured on the Intel Xeon (AVX-512, one thread, float32), ``dW_hh`` (512 × 512) of a
thread's 256 rows in chunks of 32 took 1.15 against 1.6–1.7 ms, of 4096 rows in chunks of
128 8.6–9.4 against 12.8–13.1 ms (benchmarks/results/xeon-avx512-2026-12-03-chunks/
chunks_ab_cpu.md).

``add_product_bt`` (``out += a bᵀ``) serves the input projection (``passes.project``) the
same way, as torch's ``addmm`` does: the biases written into the output first, BLAS adds the
product into them. With beta = 0, OpenBLAS first clears the output, its kernels then read and
write it, and the biases are a third pass over it: for a (T·N, G·H) output at I = 32 (16 MB)
that traffic outweighs the product's arithmetic: the projection alone took 0.84–0.99x the
time (benchmarks/results/zen4-avx512-2026-12-05/projection_ab.md).

Both call the GEMM that Numba's ``np.dot`` calls (SciPy's BLAS, through Numba's own
``numba_xxgemm`` helper), so one BLAS thread pool serves both; with ``NUMBA_DISABLE_JIT=1``
it is NumPy's product and an add.
"""

import numpy as np
from numba import types
from numba.extending import overload, register_jitable
from numba.np.linalg import _BLAS
from numba.np.numpy_support import as_dtype

from scratchrnn.kernels.transpose import rows_contiguous


def add_product_t(out, a, b):
    """``out += aᵀ b`` for a (R, M), b (R, K) and out (M, K) of one float dtype, each with its
    rows contiguous in memory, in order and apart (a row slice of a C-ordered array is)."""
    _check_t(out, a, b)
    out += a.T @ b


def add_product_bt(out, a, b):
    """``out += a bᵀ`` for a (R, K), b (M, K) and out (R, M) of one float dtype, each with its
    rows contiguous in memory, in order and apart."""
    _check_bt(out, a, b)
    out += a @ b.T


@register_jitable
def _check_t(out, a, b):
    """ValueError unless the shapes agree and BLAS can take every array as it lies in memory."""
    R, M = a.shape
    if b.shape[0] != R or out.shape[0] != M or out.shape[1] != b.shape[1]:
        raise ValueError("add_product_t: expected a (R, M), b (R, K) and out (M, K)")
    _check_rows(out, a, b)


@register_jitable
def _check_bt(out, a, b):
    """``_check_t`` for ``add_product_bt``."""
    R, K = a.shape
    if b.shape[1] != K or out.shape[0] != R or out.shape[1] != b.shape[0]:
        raise ValueError("add_product_bt: expected a (R, K), b (M, K) and out (R, M)")
    _check_rows(out, a, b)


@register_jitable
def _check_rows(out, a, b):
    """ValueError unless BLAS can take all three arrays as they lie in memory (``_leading_dimension``)."""
    if _leading_dimension(out) == 0 or _leading_dimension(a) == 0 or _leading_dimension(b) == 0:
        raise ValueError("add_product_t, add_product_bt: expected arrays whose rows are contiguous, "
                         "in order and apart")


@register_jitable
def _leading_dimension(x):
    """The row stride of the 2-D ``x`` in elements, as BLAS takes it for a column-major array of
    ``x.shape[1]`` rows; 0 where BLAS cannot take ``x``: its rows not contiguous, overlapping or
    in reverse order. One row may have any stride (a broadcast's is 0), an empty array any
    strides at all (NumPy gives (0, 0) to a fresh one)."""
    if x.size == 0:
        return max(x.shape[1], 1)                    # nothing is read or written
    if not rows_contiguous(x):
        return 0
    if x.shape[0] == 1:
        return max(x.shape[1], 1)
    ld = x.strides[0] // x.itemsize
    return ld if ld >= x.shape[1] and x.strides[0] % x.itemsize == 0 else 0      # x.size > 0: shape[1] ≥ 1


# BLAS reads a C-ordered (R, C) array as a column-major (C, R) one, its transpose. Both
# products are then GEMMs of ``b`` (first) and ``a`` (second) into outᵀ with beta = 1.
NO_TRANS, TRANS = ord("N"), ord("T")


@register_jitable
def _t_gemm(a, b):
    """add_product_t: outᵀ (K, M) += bᵀ (K, R) · a (R, M). BLAS's (trans b, trans a, m, n, k)."""
    R, M = a.shape
    return NO_TRANS, TRANS, b.shape[1], M, R


@register_jitable
def _bt_gemm(a, b):
    """add_product_bt: outᵀ (M, R) += b (M, K) · aᵀ (K, R)."""
    R, K = a.shape
    return TRANS, NO_TRANS, b.shape[0], R, K


def _compiled(check, gemm_args):
    """The compiled form of a product added into ``out`` (``check``, then BLAS's GEMM with
    ``gemm_args``), for 2-D arrays of one float dtype; other types get no overload."""
    def typed(out, a, b):
        arrays = (out, a, b)
        if not all(isinstance(x, types.Array) and x.ndim == 2 for x in arrays) \
                or not out.dtype == a.dtype == b.dtype or out.dtype not in (types.float32, types.float64):
            return None
        gemm = _BLAS().numba_xxgemm(out.dtype)
        kind = ord("s" if out.dtype == types.float32 else "d")
        dtype = as_dtype(out.dtype)

        def impl(out, a, b):
            check(out, a, b)
            trans_b, trans_a, m, n, k = gemm_args(a, b)
            if m == 0 or n == 0 or k == 0:
                return
            one = np.ones(1, dtype)                      # alpha and beta
            status = gemm(kind, trans_b, trans_a, m, n, k, one.ctypes, b.ctypes, _leading_dimension(b),
                          a.ctypes, _leading_dimension(a), one.ctypes, out.ctypes, _leading_dimension(out))
            if status != 0:                              # SciPy's BLAS was not found
                raise RuntimeError("the BLAS GEMM could not be called")
        return impl
    return typed


overload(add_product_t)(_compiled(_check_t, _t_gemm))
overload(add_product_bt)(_compiled(_check_bt, _bt_gemm))
