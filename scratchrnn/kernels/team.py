"""All cores for a whole layer pass: the batch split into row blocks, one block per thread.

The sequences of a batch share only the weights, so the time loop of rows ``0:N/2`` and
that of rows ``N/2:N`` can run on two cores side by side with no synchronisation per
step (``run``); each block's per-step product is a smaller GEMM, which OpenBLAS's
small-matrix kernel takes where the whole batch's was too big for it.

The GEMMs around the loop (input projection, ``dx``, weight gradients) are split among
the same threads (``matmul_rows``, ``matmul_t_rows``), each calling BLAS on one thread
(``serial_blas``). BLAS's own threads must stay out of such a pass: an OpenBLAS worker
keeps spinning for a while after each threaded call, and on a 2-core machine a Numba
loop that started meanwhile ran 1.5–16× slower than alone (loop of 128 steps, N=16,
H=32–128, between two projection GEMMs).

Where threads do not pay (fewer than ``MIN_ROWS`` sequences per thread, little work, or
per-step products big enough for BLAS's own threads), ``blocks`` returns 1 and the pass is
the serial one: one kernel call over all rows, BLAS with its own threads. Where BLAS has
small-matrix kernels, ``loop_blocks`` cuts a thread's rows further so that each block's
per-step product fits them; a thread then runs its blocks one after the other.
"""

import functools

import numba
import numpy as np
from numba import prange
from numba.core.dispatcher import Dispatcher
from threadpoolctl import ThreadpoolController

from scratchrnn.kernels.jit import jit_parallel

# A thread takes at least this many batch rows: with 2, blocks lost up to 1.36x (N=4, H=128–512).
MIN_ROWS = 4
# Past this many rows per thread, a per-step product too big for BLAS's small-matrix kernels
# runs as well on BLAS's own threads over the whole batch: blocks broke even or lost there
# (H=512 with N=64 or 256: 0.89–1.29x the serial pass), and won with 8 rows (0.76–0.88x).
MAX_LARGE_ROWS = 16
# A pass runs in blocks only where each block's share of the per-step products is at least
# this many multiply-adds (T × rows × H × G·H). A blocked forward+backward pays 30–80 µs more
# than a serial one (six parallel regions, BLAS's thread count set and restored, threads
# woken); measured on 2 cores (Zen 4, float32, T·N·H ∈ 32·16·32 … 128·16·64, each side by
# side with the serial pass), blocks lost up to 1.4x below ~10^6 and won from ~2·10^6.
MIN_WORK = 1_000_000


# OpenBLAS's small-matrix kernels (its AVX-512 kernels: these core types) multiply without
# packing where the product has at most SMALL_MATRIX_MNK multiply-adds. Measured (Zen 4,
# float32, 2 threads, T=128 steps of rows × 128 by 128 × 512): 8 rows 186–218 GFLOP/s,
# 16 or 32 rows 91–124; at 512 × 512, where 4 rows already exceed it, smaller blocks lost.
SMALL_MATRIX_CORES = ("SkylakeX", "Cooperlake", "SapphireRapids")
SMALL_MATRIX_MNK = 1_000_000
# Rows per loop block are not cut below this to fit the limit.
MIN_SMALL_ROWS = 4


def blocks(T, N, H, GH):
    """How many row blocks a pass over T steps of N sequences, hidden size H (the per-step
    product's inner size: P with a projection) and G·H gate units runs in.

    1 (serial) for one sequence or little work; else as many as there are Numba threads
    (``numba.set_num_threads``), at most one per ``MIN_ROWS`` rows.
    """
    k = min(numba.get_num_threads(), N // MIN_ROWS)
    if k < 2 or T * (N // k) * H * GH < MIN_WORK:
        return 1
    if -(-N // k) > MAX_LARGE_ROWS and not _fits_small_matrix_kernels(H, GH):
        return 1
    return k


def loop_blocks(nblocks, N, H, GH):
    """Row blocks for the time loops of a pass in ``nblocks`` blocks: that many, or, where BLAS
    has small-matrix kernels and a block's per-step product (rows × H by H × G·H, or back)
    is too big for them, a multiple of it with blocks small enough (at least ``MIN_SMALL_ROWS``
    rows); each thread then runs its share of them one after the other."""
    if nblocks == 1 or not _fits_small_matrix_kernels(H, GH):
        return nblocks
    rows = -(-N // nblocks)                          # the largest block's rows
    fit = SMALL_MATRIX_MNK // (H * GH)               # rows the small-matrix kernel takes
    if rows <= fit:
        return nblocks
    return nblocks * -(-rows // fit)


def _fits_small_matrix_kernels(H, GH):
    """Whether blocks of ``MIN_SMALL_ROWS`` rows or more have per-step products (rows × H by
    H × G·H) that BLAS's small-matrix kernels take."""
    return small_matrix_kernels() and SMALL_MATRIX_MNK // (H * GH) >= MIN_SMALL_ROWS


@functools.cache
def small_matrix_kernels():
    """Whether the BLAS that Numba's np.dot calls is OpenBLAS with small-matrix kernels
    (asked once: its core type is fixed when it loads)."""
    libs = serial_blas.libraries()
    scipy_libs = [lib for lib in libs if "scipy" in lib.filepath] or libs
    return bool(scipy_libs) and all(lib.internal_api == "openblas" and
                                    getattr(lib, "architecture", None) in SMALL_MATRIX_CORES
                                    for lib in scipy_libs)


def run(kernel, nblocks, *args):
    """``kernel(*args, n0, n1)`` over all batch rows: one call, or ``nblocks`` blocks side by side.

    ``kernel`` is one of the time loops of ``loops.py``; its first argument is (T, N, ·).
    Its shapes are checked in the caller's thread first (an exception inside a parallel block
    would be lost).
    """
    N = args[0].shape[1]
    if nblocks == 1:
        kernel(*args, 0, N)
        return
    kernel(*args, 0, 0)                  # shape checks only: an empty row range runs nothing
    if isinstance(kernel, Dispatcher):
        _in_blocks(kernel, N, nblocks, *args)
    else:                                # a Python function (a kernel wrapped to time or test it):
        for k in range(nblocks):         # the same blocks, one by one
            kernel(*args, N * k // nblocks, N * (k + 1) // nblocks)


@jit_parallel
def _in_blocks(kernel, N, nblocks, *args):
    """Block k of ``nblocks`` runs rows ``N·k // nblocks`` to ``N·(k+1) // nblocks``: sizes differ by at most one."""
    for k in prange(nblocks):
        kernel(*args, N * k // nblocks, N * (k + 1) // nblocks)


@jit_parallel
def matmul_rows(a, b, out, nblocks):
    """``out[...] = a @ b`` with the rows of a in ``nblocks`` blocks side by side; returns out."""
    M = a.shape[0]
    for k in prange(nblocks):
        r0, r1 = M * k // nblocks, M * (k + 1) // nblocks
        np.dot(a[r0:r1], b, out[r0:r1])
    return out


@jit_parallel
def matmul_t_rows(a, b, partial, nblocks):
    """``aᵀ b`` for a (K, M), b (K, L) as a new (M, L) array, the K rows in ``nblocks`` blocks.

    Block 0 writes the result, blocks 1… their partial products into ``partial``
    (nblocks − 1, M, L); they are added after. The sum over K is thus taken in a different
    order than by one GEMM: results differ from the serial pass by rounding.
    """
    K, M = a.shape
    out = np.empty((M, b.shape[1]), dtype=a.dtype)
    for k in prange(nblocks):
        r0, r1 = K * k // nblocks, K * (k + 1) // nblocks
        target = out if k == 0 else partial[k - 1]
        np.dot(a[r0:r1].T, b[r0:r1], target)
    for k in range(nblocks - 1):
        out += partial[k]
    return out


class serial_blas:
    """Context manager: BLAS on one thread inside, as it was after (a no-op for ``nblocks == 1``).

    The row blocks call BLAS from several threads at once; each call must stay on its own
    thread. Setting the thread count is a library call (no threads start or stop).
    """

    _libraries = None                    # threadpoolctl controllers of the BLAS libraries loaded

    def __init__(self, nblocks):
        self.active = nblocks > 1

    @classmethod
    def libraries(cls):
        if cls._libraries is None:
            import scipy.linalg.cython_blas  # noqa: F401  the BLAS Numba's np.dot calls: loaded before we look
            cls._libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        return cls._libraries

    def __enter__(self):
        if self.active:
            self.saved = [(lib, lib.get_num_threads()) for lib in self.libraries()]
            for lib, _ in self.saved:
                lib.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.active:
            for lib, n in self.saved:
                lib.set_num_threads(n)
        return False
