"""Column sums over many rows that keep float32's digits: the bias gradients.

A bias gradient is the column sum of every step's ``da`` over all T·N rows. Added row after
row, as NumPy's ``a.sum(axis=0)`` does, each term passes through up to R − 1 roundings, so
the error bound grows with R: |error| ≤ γ_{R−1}·Σ|a| with γ_n = n·u/(1 − n·u), u the unit
roundoff (Higham, *Accuracy and Stability of Numerical Algorithms*, §4.2). In float32 at
R = 8192 that was 3–7× further from the float64 truth than torch's bias gradients, whose
sums are cascaded.

``column_sums`` adds the rows in blocks of ``BLOCK`` and then the block sums pairwise, as a
binary counter: after every second block the two newest sums of equal size are merged, so
``stack`` holds one sum per set bit of the number of blocks done. A term then passes through
at most ``BLOCK − 1`` additions in its block and ``⌊log₂ nblocks⌋ + 1`` after: in the merges
of its sum, then the last adding up of the sums left, which are as many as the set bits of
``nblocks``. ``pairwise_depth`` states that bound; the cost is a few rows more to read and
write, all in L1.
"""

import numpy as np

from scratchrnn.kernels.jit import jit

BLOCK = 8          # rows added in sequence before the pairwise stage: one row stays in L1 for them


@jit
def column_sums(a, out, r0, r1):
    """``out[...] = Σ_{r0 ≤ r < r1} a[r]``, in blocks of ``BLOCK`` rows added pairwise.

    a (R, W), out (W,); rows r0:r1 of a. No rows: zeros.
    """
    nblocks = (r1 - r0 + BLOCK - 1) // BLOCK
    stack = np.empty((_levels(nblocks), out.size), dtype=out.dtype)   # one sum per set bit of blocks done
    depth = 0
    for b in range(nblocks):
        _block_sum(a, stack[depth], r0 + b * BLOCK, min(r0 + (b + 1) * BLOCK, r1))
        depth += 1
        done = b + 1
        while done % 2 == 0:                  # the two newest sums cover as many rows: merge them
            _add_into(stack[depth - 2], stack[depth - 1])
            depth -= 1
            done //= 2
    out[:] = 0
    for d in range(depth - 1, -1, -1):        # the rest, smallest first
        _add_into(out, stack[d])


def pairwise_depth(R):
    """The most additions a term goes through in ``column_sums`` over R rows: its error is at
    most γ_depth·Σ|a| per column (see the module's docstring)."""
    nblocks = -(-R // BLOCK)
    return BLOCK - 1 + nblocks.bit_length()


@jit
def _levels(nblocks):
    """Rows the stack needs for ``nblocks`` blocks: one per bit of the count, and one more."""
    levels = 1
    while nblocks > 0:
        levels += 1
        nblocks //= 2
    return levels


@jit
def _block_sum(a, out, r0, r1):
    """``out[...] = Σ_{r0 ≤ r < r1} a[r]`` row after row, r1 > r0."""
    first = a[r0]
    for j in range(out.size):
        out[j] = first[j]
    for r in range(r0 + 1, r1):
        _add_into(out, a[r])


@jit
def _add_into(out, row):
    """``out += row`` for two 1-D arrays of one size."""
    for j in range(out.size):
        out[j] += row[j]
