"""All cores for a whole layer pass: the batch split into row blocks, one block per thread.

The sequences of a batch share only the weights, so the time loop of rows ``0:N/2`` and
that of rows ``N/2:N`` can run on two cores side by side with no synchronisation per
step (``passes.loop``); each block's per-step product is a smaller GEMM, which OpenBLAS's
small-matrix kernel takes where the whole batch's was too big for it.

The GEMMs around the loop (input projection, ``dx``, weight gradients) are split among
the same threads (``passes.project``, ``passes.param_grads``), each calling BLAS on one
thread (``serial_blas``). BLAS's own threads must stay out of such a pass: an OpenBLAS worker
keeps spinning for a while after each threaded call, and on a 2-core machine a Numba
loop that started meanwhile ran 1.5–16× slower than alone (loop of 128 steps, N=16,
H=32–128, between two projection GEMMs). Holding BLAS on one thread does not stop a worker
that already spins, so a model's head keeps off BLAS's threads too: ``Linear`` runs its
GEMMs in the same row blocks (``gemm_blocks``). In a character model's training step (RNN
256, 1,027 one-hot classes, T=35, N=32; 2 cores of an Intel Xeon with AVX-512) the
recurrent forward and backward took 7.5–15 ms each after a head on BLAS's threads and
3.6–3.9 ms after one in row blocks, and the whole step 27–38 ms against 15–16.

Where threads do not pay (fewer than ``MIN_ROWS`` sequences per thread, little work,
per-step products big enough for BLAS's own threads, or too few rows to give every core a
block while each block would read big weights every step), ``blocks`` returns 1 and the pass is
the serial one: one kernel call over all rows, BLAS with its own threads. ``loop_blocks``
cuts a thread's rows further where that pays: into blocks of at most 64 rows where the
weights packed in panels take them (``panels.py``), else, where BLAS has small-matrix
kernels, into blocks whose per-step products fit them; a thread then runs its blocks one
after the other.

A bidirectional layer whose passes are serial has a second way to use two cores: its two
directions are independent, so each can run its serial pass on a thread of its own
(``side_by_side``; where that pays: ``scratchrnn.layout.directions_side_by_side``).
"""

import concurrent.futures
import functools
import os

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

from scratchrnn.kernels import panels

# A thread takes at least this many batch rows: with 2, blocks lost up to 1.36x (N=4, H=128–512).
MIN_ROWS = 4
# Past this many rows per thread, a per-step product too big for BLAS's small-matrix kernels
# runs as well on BLAS's own threads over the whole batch: blocks broke even or lost there
# (H=512 with N=64 or 256: 0.89–1.29x the serial pass), and won with 8 rows (0.76–0.88x).
# Blocks whose products take the panels (``panels.py``) run in blocks all the same, cut into
# loop blocks of at most ``panels.MAX_ROWS`` rows where a thread has more: at N=256, two
# blocks of 128 rows as four loop blocks of 64 on panels took 0.85–0.99x the serial pass
# (T=32, H=512 and 1024, all three models; Intel Xeon, AVX-512, float32), and 0.92–0.99x
# the loop blocks of at most 61, 20 or 15 rows (RNN, GRU, LSTM) that fit BLAS's small-matrix
# kernels (H=128).
MAX_LARGE_ROWS = 16
# A pass runs in blocks only where each block's share of the per-step products is at least
# this many multiply-adds (T × rows × H × G·H). A blocked forward+backward pays 30–80 µs more
# than a serial one (six parallel regions, BLAS's thread count set and restored, threads
# woken); measured on 2 cores (Zen 4, float32, T·N·H ∈ 32·16·32 … 128·16·64, each side by
# side with the serial pass), blocks lost up to 1.4x below ~10^6 and won from ~2·10^6.
MIN_WORK = 1_000_000
# Where there are too few rows for a block on every thread (N < MIN_ROWS · threads), blocks
# leave cores idle while each block reads all of W_hh every step; BLAS's threads in a serial
# pass each read a slice of it. Measured on 16 cores (Intel Xeon, AVX-512, float32, T=128,
# N=16 in 4 blocks, side by side): the serial pass took 0.44-0.79x the blocks' time with W_hh
# of 1 MiB (RNN H=512) to 16 MiB (LSTM H=1024); with N=64, a block on every thread, blocks
# stayed ahead (LSTM H=512 0.79x the serial time, H=1024 1.06x). Smaller W_hh was not measured
# there and keeps its blocks. On 2 cores every blocked pass has a block on each thread.
IDLE_CORES_MAX_WEIGHT_BYTES = 1 << 20


# OpenBLAS's small-matrix kernels (its AVX-512 kernels: these core types) multiply without
# packing where the product has at most SMALL_MATRIX_MNK multiply-adds. Measured (Zen 4,
# float32, 2 threads, T=128 steps of rows × 128 by 128 × 512): 8 rows 186–218 GFLOP/s,
# 16 or 32 rows 91–124; at 512 × 512, where 4 rows already exceed it, smaller blocks lost.
SMALL_MATRIX_CORES = ("SkylakeX", "Cooperlake", "SapphireRapids")
SMALL_MATRIX_MNK = 1_000_000
# Rows per loop block are not cut below this to fit the limit.
MIN_SMALL_ROWS = 4


def blocks(T, N, H, GH, dtype):
    """How many row blocks a pass over T steps of N sequences, hidden size H (the per-step
    product's inner size: P with a projection), G·H gate units and data of ``dtype`` runs in.

    1 (serial) for one sequence or little work; else as many as there are Numba threads
    (``numba.set_num_threads``), at most one per ``MIN_ROWS`` rows, where fewer blocks than
    threads would each read W_hh of ``IDLE_CORES_MAX_WEIGHT_BYTES`` or more every step.
    """
    if N < 2 * MIN_ROWS or T * (N // 2) * H * GH < MIN_WORK:
        return 1                         # decided without asking Numba (that costs ~3 µs)
    threads = numba.get_num_threads()
    k = min(threads, N // MIN_ROWS)
    if k < 2 or T * (N // k) * H * GH < MIN_WORK:
        return 1
    if k < threads and GH * H * np.dtype(dtype).itemsize >= IDLE_CORES_MAX_WEIGHT_BYTES:
        return 1
    rows = -(-N // k)                    # the largest block's
    if rows > MAX_LARGE_ROWS and not (_fits_small_matrix_kernels(H, GH) or _panel_blocks(rows, H, GH, dtype)):
        return 1
    return k


def _panels_take(rows, H, GH, dtype):
    """Whether blocks of ``rows`` rows multiply from panels both ways (``panels.use_panels``):
    h_{t-1} W_hhᵀ forward, da_t W_hh back."""
    return panels.use_panels(rows, H, GH, dtype) and panels.use_panels(rows, GH, H, dtype)


def _panel_blocks(rows, H, GH, dtype):
    """Into how many loop blocks a thread's ``rows`` rows are cut for the panels to take each
    (at most ``panels.MAX_ROWS`` rows a block); 0 where they take none of them."""
    cut = -(-rows // panels.MAX_ROWS)
    return cut if _panels_take(-(-rows // cut), H, GH, dtype) else 0


def gemm_blocks(M, K, O):
    """Row blocks for a GEMM on its own, rows (M, K) by (K, O) (``Linear``): as many as there
    are Numba threads, at most one per ``MIN_ROWS`` rows, where each block has at least
    ``MIN_WORK`` multiply-adds; else 1, one GEMM with BLAS's own threads."""
    if M < 2 * MIN_ROWS or (M // 2) * K * O < MIN_WORK:
        return 1
    k = min(numba.get_num_threads(), M // MIN_ROWS)
    return k if k >= 2 and (M // k) * K * O >= MIN_WORK else 1


def loop_blocks(nblocks, N, H, GH, dtype):
    """Row blocks for the time loops of a pass in ``nblocks`` blocks: that many, or a multiple
    of it, each thread then running its share of them one after the other:

    - where the panels take a block's per-step products (rows × H by H × G·H, and back), cut
      into blocks of at most ``panels.MAX_ROWS`` rows (``_panel_blocks``): the panels beat
      BLAS's small-matrix kernels (``panels.py``);
    - else, where BLAS has small-matrix kernels and a block's product is too big for them,
      cut into blocks small enough (at least ``MIN_SMALL_ROWS`` rows)."""
    if nblocks == 1:
        return nblocks
    rows = -(-N // nblocks)                          # the largest block's rows
    cut = _panel_blocks(rows, H, GH, dtype)
    if cut:
        return nblocks * cut
    if not _fits_small_matrix_kernels(H, GH):
        return nblocks
    fit = SMALL_MATRIX_MNK // (H * GH)               # rows the small-matrix kernel takes
    if rows <= fit:
        return nblocks
    return nblocks * -(-rows // fit)


def _fits_small_matrix_kernels(H, GH):
    """Whether blocks of ``MIN_SMALL_ROWS`` rows or more have per-step products (rows × H by
    H × G·H) that BLAS's small-matrix kernels take."""
    return small_matrix_kernels() and SMALL_MATRIX_MNK // (H * GH) >= MIN_SMALL_ROWS


def small_matrix_limit():
    """The most multiply-adds of a product that BLAS's small-matrix kernels take: what the
    passes give the per-step products (``products.matmul_add_into``) as ``blas_small``; 0 where the
    BLAS has no such kernels."""
    return SMALL_MATRIX_MNK if small_matrix_kernels() else 0


@functools.cache
def small_matrix_kernels():
    """Whether the BLAS that Numba's np.dot calls is OpenBLAS with small-matrix kernels
    (asked once: its core type is fixed when it loads)."""
    libs = serial_blas.libraries()
    scipy_libs = [lib for lib in libs if "scipy" in lib.filepath] or libs
    return bool(scipy_libs) and all(lib.internal_api == "openblas" and
                                    getattr(lib, "architecture", None) in SMALL_MATRIX_CORES
                                    for lib in scipy_libs)


_helper = None                 # (process id, executor of the one thread ``side_by_side`` runs its second call on)


def side_by_side(first, second):
    """``(first(), second())`` with ``second`` on a helper thread meanwhile, BLAS on one thread
    while both run (``serial_blas``): the two directions of a bidirectional layer, each a serial
    pass. The compiled passes release the GIL (``jit.py``), so their loops run on two cores;
    the Python around them takes turns. The helper runs with the caller's Numba thread count.

    Both calls run to their end before this returns or raises: neither is left writing its
    arrays behind the caller's back (short of an interrupt while waiting for the second). Where
    both raise, ``first``'s exception is the one raised. ``first`` and ``second`` must not
    run Numba's parallel regions: its workqueue threading layer cannot run two at once.
    """
    global _helper
    if _helper is None or _helper[0] != os.getpid():     # none yet, or made before a fork: no thread here
        _helper = (os.getpid(), concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scratchrnn-side"))
    threads = numba.get_num_threads()

    def in_helper():
        numba.set_num_threads(threads)               # per thread in Numba: the helper's own is the default
        return second()

    with serial_blas(2):                             # two threads calling BLAS: each on one
        other = _helper[1].submit(in_helper)
        try:
            a = first()
        except BaseException:
            concurrent.futures.wait([other])
            raise
        return a, other.result()


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
