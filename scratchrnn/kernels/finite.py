"""Whether a float array holds a NaN or an inf: one compiled pass over its bits.

NaN and ±inf are the IEEE values whose exponent field is all ones. Testing that field with
integer operations reads each value once, makes no temporary array and raises no
floating-point flag, and LLVM vectorises the loop: 0.06 ns a value from L2 (Xeon, AVX-512),
3× faster than NumPy's float sum. (A float sum can also overflow for finite data, and warns
on ``inf - inf``.) A large array is scanned in blocks side by side, one per thread
(``any_non_finite_blocks``, where ``scan_blocks`` says so): a char-LM step scans 4.6 MB of
one-hot input, of logits and of their gradient.
"""

import numba
import numpy as np
from numba import prange

from scratchrnn.kernels.jit import jit, jit_parallel

# Arrays are scanned in blocks of at least this many bytes side by side on Numba's threads
# (``any_non_finite_blocks``), so from twice this size on. Intel Xeon, 2 cores, float32, an array
# in cache, two blocks against one thread, two rounds (benchmarks/results/
# xeon-avx512-2026-12-07-training/scans.txt): 2 MiB 0.50–0.62x the time, 4 MiB 0.44–0.48x,
# 16 MiB 0.51–0.75x; 1 MiB 0.72–0.97x, 512 KiB 1.05–1.24x, 256 KiB 2.0–2.7x, where starting the
# threads costs about what the scan takes.
BLOCK_MIN_BYTES = 1 << 20


@jit
def any_non_finite(bits, exponent):
    """Whether any value is NaN or ±inf, given the values' IEEE bits.

    bits:     (n,) unsigned integers, the values' bits (``a.reshape(-1).view(np.uint32)`` for
              float32 data, ``np.uint64`` for float64)
    exponent: the mask of the exponent field in that width (0x7F800000, 0x7FF0000000000000)
    """
    found = False
    for i in range(bits.size):
        found |= (bits[i] & exponent) == exponent    # no early exit: a branch keeps the loop scalar
    return found


@jit_parallel
def any_non_finite_blocks(bits, exponent, nblocks):
    """``any_non_finite`` over ``nblocks`` blocks of the values, side by side."""
    found = np.zeros(nblocks, np.bool_)
    n = bits.size
    for k in prange(nblocks):
        found[k] = any_non_finite(bits[n * k // nblocks:n * (k + 1) // nblocks], exponent)
    return found.any()


def scan_blocks(nbytes):
    """In how many blocks to scan ``nbytes`` of values: at most one per Numba thread, each of at
    least ``BLOCK_MIN_BYTES`` (1: one scan on the calling thread). Blocks run in a parallel
    region on Numba's threads, as a pass in row blocks does."""
    if nbytes < 2 * BLOCK_MIN_BYTES:
        return 1                                     # decided without asking Numba (that costs ~3 µs)
    return min(numba.get_num_threads(), nbytes // BLOCK_MIN_BYTES)
