"""Transposed copies of the weights, a square tile at a time through vector registers.

In two places a pass reads ``W_hh`` transposed: the copy of ``W_hhᵀ`` its loops read
(``transpose_into``) and the forward's panels (``panels.pack_into``). Copied element by
element, one of the two arrays is walked down its columns; here a tile of ``tile_size`` rows
and columns (one vector register per row: with AVX-512 16 × 16 float32 or 8 × 8 float64,
without it half as many) is loaded a row per vector, transposed inside the registers, and
stored a row per vector (``_transpose_tile``). The transpose is log₂(tile) rounds of shuffles:
the round of width b swaps, in every pair of rows r and r + b (r without the bit b), the b × b
blocks off the diagonal, so that after the rounds b = tile/2, …, 2, 1 element (r, c) sits at
(c, r). Each shuffle moves values and computes nothing: the copy is exact.

Measured on the Intel Xeon (AVX-512), one thread, ``W_hh`` (4H, H) into (H, 4H): float32
H = 512 0.49 against 1.08 ms for the element-by-element copy in 32 × 32 tiles it replaces, and
H = 1024 2.2 against 5.9 ms (a plain copy of as many bytes: 0.29 and 1.16 ms); float64 H = 512
1.26 against 1.55 ms, H = 1024 6.8 against 14.1 ms (benchmarks/results/xeon-avx512-2026-12-03-
chunks/transpose_ab_cpu.md). The 256-bit tiles of CPUs without AVX-512 were not measured.
``NUMBA_DISABLE_JIT=1`` runs ``_transpose_tile`` as a NumPy copy of the transposed view.
"""

import functools

import llvmlite.binding
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from scratchrnn.kernels.jit import jit


@functools.cache
def wide_registers():
    """Whether the CPU has AVX-512: 32 vector registers of 512 bits (asked once)."""
    return bool(llvmlite.binding.get_host_cpu_features().get("avx512f", False))


# A tile's row: one vector register, of 512 bits where the CPU has AVX-512, else of 256.
VECTOR_BYTES = 64 if wide_registers() else 32


@jit
def tile_size(a):
    """Rows and columns of a tile of ``a``'s dtype: with AVX-512 16 for float32, 8 for float64."""
    return VECTOR_BYTES // a.itemsize


@jit
def rows_contiguous(a):
    """Whether the elements of each row of the 2-D ``a`` are next to each other in memory."""
    return a.shape[1] < 2 or a.strides[1] == a.itemsize


@jit
def transpose_into(a, out):
    """``out[...] = a.T`` for a 2-D a (R, C) and out (C, R) of one float dtype; returns out.

    Whole tiles through the registers (``_transpose_tile``), the ragged edges (R or C not a
    multiple of the tile) element by element; arrays whose rows are not contiguous in memory
    (a transposed view) element by element throughout.
    """
    R, C = a.shape
    if out.shape != (C, R):
        raise ValueError("transpose_into: expected out of shape (C, R) for a (R, C)")
    t = tile_size(a)
    R0, C0 = R - R % t, C - C % t                    # the whole tiles cover rows :R0, columns :C0
    if not (rows_contiguous(a) and rows_contiguous(out)):
        R0, C0 = 0, 0
    for i0 in range(0, R0, t):
        for j0 in range(0, C0, t):
            _transpose_tile(a[i0:i0 + t, j0:j0 + t], out[j0:j0 + t, i0:i0 + t])
    for j in range(C):                               # the edges: columns C0: of every row, rows R0:
        row = out[j]
        for i in range(R0 if j < C0 else 0, R):
            row[i] = a[i, j]
    return out


def _transpose_tile(src, dst):
    """``dst[c, r] = src[r, c]`` for square tiles ``src`` and ``dst`` of ``tile_size`` rows,
    each row contiguous in memory (their rows may lie anywhere)."""
    dst[...] = src.T


@overload(_transpose_tile, inline="always")
def _transpose_tile_compiled(src, dst):
    def impl(src, dst):
        t = tile_size(src)                           # the registers take whole tiles only
        if src.shape != (t, t) or dst.shape != (t, t) or not (rows_contiguous(src) and rows_contiguous(dst)):
            raise ValueError("_transpose_tile: expected two tiles of tile_size rows, each row contiguous")
        _transpose_in_registers(src, dst)
    return impl


@intrinsic
def _transpose_in_registers(typingctx, src, dst):
    """``_transpose_tile`` in LLVM IR: a vector load per row of src, the rounds of shuffles, a
    vector store per row of dst. The row strides come from the arrays; their shapes are not
    read (``_transpose_tile`` checks them first)."""
    if not all(isinstance(x, types.Array) and x.ndim == 2 for x in (src, dst)) \
            or src.dtype != dst.dtype or not isinstance(src.dtype, types.Float):
        return None
    dtype = src.dtype
    lanes = VECTOR_BYTES * 8 // dtype.bitwidth

    def codegen(context, builder, signature, args):
        vec = ir.VectorType(context.get_value_type(dtype), lanes)
        align = dtype.bitwidth // 8                  # rows need not start on a vector boundary

        def row_pointers(array_type, value):
            array = context.make_array(array_type)(context, builder, value)
            stride = cgutils.unpack_tuple(builder, array.strides, 2)[0]   # bytes from row to row
            base = builder.bitcast(array.data, ir.IntType(8).as_pointer())
            return [builder.bitcast(builder.gep(base, [builder.mul(stride, context.get_constant(types.intp, r))]),
                                    vec.as_pointer()) for r in range(lanes)]

        rows = [builder.load(p, align=align) for p in row_pointers(signature.args[0], args[0])]
        b = lanes // 2
        while b >= 1:                                # swap the b × b blocks off the diagonal
            keep = [j if not j & b else lanes + j - b for j in range(lanes)]    # row r: its own, then r + b's
            take = [j + b if not j & b else lanes + j for j in range(lanes)]    # row r + b: r's, then its own
            for r in range(lanes):
                if not r & b:
                    rows[r], rows[r + b] = (builder.shuffle_vector(rows[r], rows[r + b], _mask(keep)),
                                            builder.shuffle_vector(rows[r], rows[r + b], _mask(take)))
            b //= 2
        for p, row in zip(row_pointers(signature.args[1], args[1]), rows):
            builder.store(row, p, align=align)
        return context.get_dummy_value()
    return types.void(src, dst), codegen


def _mask(indices):
    """A shuffle mask: element j of the result is element ``indices[j]`` of the two vectors
    joined end to end."""
    return ir.Constant(ir.VectorType(ir.IntType(32), len(indices)), indices)
