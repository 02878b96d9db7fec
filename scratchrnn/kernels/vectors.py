"""One row of a register tile at a time, in 512-bit vectors: what the sums of the per-step
product from panels (``scratchrnn.kernels.panels``) are made of.

A tile (``zeroed_tile``) holds a few rows of sums on the stack, each row ``ROW_BYTES`` wide: 32
float32 or 16 float64 values, two 512-bit vectors. Its rows are multiplied into (``fma_row``,
``fma_four_rows``), stored or added into an output (``store_row``), and the panel rows a sum will
read are asked for ahead (``prefetch_row``). Compiled, each is a few explicit vector operations in
LLVM IR: Numba's own loops get 256-bit vectors on CPUs that prefer them (LLVM's choice for the
Intel Xeon), and at that width a tile of eight rows would not fit the registers. With
``NUMBA_DISABLE_JIT=1`` each runs as the NumPy loop it is written as.
"""

from llvmlite import ir
import numpy as np
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from scratchrnn.kernels.jit import jit_fma

ROW_BYTES = 128        # a tile row, and a panel row: two 512-bit vectors
# llvm.prefetch's locality for ``prefetch_row``: 3 keeps the row in every cache level
# (``prefetcht0`` on x86); how far ahead to ask is the caller's (``panels.PREFETCH_ROWS``).
PREFETCH_LOCALITY = 3


def store_row(dest, row, add):
    """``dest[j] += row[j]`` (``add``), else ``dest[j] = row[j]``, for one tile row (NR values).

    Compiled (``_store_row_compiled``) as two 512-bit vector loads, adds and stores (stores
    alone without ``add``). Compiled as this loop, the group moved its tile from the registers
    to the stack after the sums and added it into the output with 128 scalar adds, which cost
    a fifth of the product where K is 128. One core of an AMD EPYC Zen 5, float32, 28–128
    steps each adding a different ``c``, the same bits either way: 32–64 × 128 by 128 × 512
    1.22–1.26x as fast, 8–32 × 512 by 512 × 2048 1.01–1.05x; a whole LSTM forward pass at
    T=128 N=64 H=128 0.91–0.97x the time (benchmarks/results/zen5-avx512-2026-12-04b/
    store_wide_ab.md).
    """
    if add:
        for j in range(row.size):
            dest[j] += row[j]
    else:
        for j in range(row.size):
            dest[j] = row[j]


def fma_row(acc, a, b):
    """``acc[j] += a · b[j]`` for one tile row and one panel row (NR values each).

    Compiled (``_fma_row_compiled``) as two 512-bit fused multiply-adds, one rounding per
    element; here, with the JIT off, a multiply and an add, two roundings.
    """
    for j in range(acc.size):
        acc[j] += a * b[j]


def fma_four_rows(acc, a0, a1, a2, a3, b0, b1, b2, b3):
    """``acc[j] += a0·b0[j] + a1·b1[j] + a2·b2[j] + a3·b3[j]`` for one tile row and four panel
    rows: the four products summed first, then added to ``acc[j]``.

    Compiled (``_fma_four_compiled``) in 512-bit vectors: a product, three fused multiply-adds
    and an add, one rounding each; here, with the JIT off, eight."""
    for j in range(acc.size):
        acc[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]


@intrinsic
def _stack_zeros(typingctx, like, count):
    """A pointer to ``count`` (a literal) zeroed values of ``like``'s dtype, on the stack of the
    function it is compiled into."""
    if not isinstance(count, types.IntegerLiteral):
        return None
    n = count.literal_value
    sig = types.CPointer(like.dtype)(like, count)

    def codegen(context, builder, signature, args):
        ptr = cgutils.alloca_once(builder, context.get_value_type(like.dtype),
                                  size=context.get_constant(types.intp, n))
        cgutils.memset(builder, ptr, context.get_constant(types.intp, n * like.dtype.bitwidth // 8), 0)
        return ptr
    return sig, codegen


def zeroed_tile(rows):
    """A function ``tile(panel)``: a zeroed (``rows``, NR) array of the dtype of ``panel`` (K, NR),
    NR values to a row of ``ROW_BYTES``.

    Compiled, NR comes from the dtype and the array lives on the stack of the function that
    calls ``tile`` (it is inlined there): with a fixed size and no other pointer to it, LLVM
    keeps it in vector registers. Only one function may call each tile function (and hand the
    tile to functions inlined there), and the tile must not outlive that call; its caller
    checks that the panels are ``ROW_BYTES`` wide. With the JIT off, a NumPy array.
    """
    def tile(panel):
        return np.zeros((rows, panel.shape[1]), dtype=panel.dtype)
    overload(tile, inline="always")(_stack_tile(rows))
    return tile


def _stack_tile(rows):
    """The compiled form of a tile of ``rows`` rows (``zeroed_tile``)."""
    def typer(panel):
        nr = ROW_BYTES // (panel.dtype.bitwidth // 8)
        size = rows * nr

        def impl(panel):
            return carray(_stack_zeros(panel, size), (rows, nr))
        return impl
    return typer


def prefetch_row(panel, k):
    """Ask the CPU to bring row k of ``panel`` into its caches; a hint, which changes no result
    (with the JIT off, nothing)."""


@overload(prefetch_row, inline="always")
def _prefetch_row_compiled(panel, k):
    if panel.layout != "C":                             # panels from a strided view: no hint
        return lambda panel, k: None
    return lambda panel, k: _prefetch(panel, k)


@intrinsic
def _prefetch(typingctx, panel, k):
    """``llvm.prefetch`` every 64 bytes (a cache line) of row k of ``panel``, a C-contiguous (K, NR)
    array of ``ROW_BYTES`` rows: k may lie past the panel's last row (the next panel's rows, or
    none: a prefetch never faults and changes no result)."""
    if not (isinstance(panel, types.Array) and panel.ndim == 2 and panel.layout == "C"
            and isinstance(k, types.Integer)):
        return None
    sig = types.void(panel, k)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p, i32, intp = ir.IntType(8).as_pointer(), ir.IntType(32), context.get_value_type(types.intp)
        row = builder.mul(context.cast(builder, args[1], signature.args[1], types.intp),
                          builder.extract_value(ary.strides, 0))
        start = builder.add(builder.ptrtoint(ary.data, intp), row)
        fetch = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                               "llvm.prefetch")   # LLVM renames it llvm.prefetch.p0 itself
        for line in range(0, ROW_BYTES, 64):
            address = builder.inttoptr(builder.add(start, ir.Constant(intp, line)), i8p)
            # read, locality PREFETCH_LOCALITY (3: keep in all levels), data cache
            builder.call(fetch, [address, ir.Constant(i32, 0), ir.Constant(i32, PREFETCH_LOCALITY), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return sig, codegen


def _splat(builder, vec, value):
    """``value`` in every lane of a vector of type ``vec`` (LLVM IR)."""
    splat = ir.Constant(vec, ir.Undefined)
    for lane in range(vec.count):
        splat = builder.insert_element(splat, value, ir.Constant(ir.IntType(32), lane))
    return splat


@intrinsic
def _fma_wide(typingctx, acc, a, b):
    """``acc[0:NR] += a · b[0:NR]`` for two C-contiguous rows of ``ROW_BYTES``, as two
    512-bit ``llvm.fma`` vector operations."""
    rows = (acc, b)
    if not all(isinstance(r, types.Array) and r.ndim == 1 and r.layout == "C" for r in rows) \
            or acc.dtype != b.dtype or not isinstance(acc.dtype, types.Float) or not isinstance(a, types.Number):
        return None                                      # rows of one float dtype, in memory order
    dtype = acc.dtype
    sig = types.void(acc, a, b)

    def codegen(context, builder, signature, args):
        acc_data = context.make_array(signature.args[0])(context, builder, args[0]).data
        b_data = context.make_array(signature.args[2])(context, builder, args[2]).data
        lanes = 512 // dtype.bitwidth
        vec = ir.VectorType(context.get_value_type(dtype), lanes)
        value = context.cast(builder, args[1], signature.args[1], dtype)   # a of another dtype: refused at run time
        splat = _splat(builder, vec, value)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                             f"llvm.fma.v{lanes}f{dtype.bitwidth}")
        align = dtype.bitwidth // 8                      # rows need not start on a vector boundary
        for half in range(ROW_BYTES * 8 // 512):
            offset = [context.get_constant(types.intp, half * lanes)]
            p_acc = builder.bitcast(builder.gep(acc_data, offset), vec.as_pointer())
            p_b = builder.bitcast(builder.gep(b_data, offset), vec.as_pointer())
            total = builder.call(fma, [splat, builder.load(p_b, align=align), builder.load(p_acc, align=align)])
            builder.store(total, p_acc, align=align)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def _fma_four_wide(typingctx, acc, a0, a1, a2, a3, b0, b1, b2, b3):
    """``acc[0:NR] += a0·b0[0:NR] + … + a3·b3[0:NR]`` for C-contiguous rows of ``ROW_BYTES``,
    in 512-bit vectors: t = a0·b0, then t = fma(a_i, b_i, t) for i = 1, 2, 3, then acc + t."""
    rows = (acc, b0, b1, b2, b3)
    if not all(isinstance(r, types.Array) and r.ndim == 1 and r.layout == "C" and r.dtype == acc.dtype
               for r in rows) or not isinstance(acc.dtype, types.Float) \
            or not all(isinstance(x, types.Number) for x in (a0, a1, a2, a3)):
        return None                                      # rows of one float dtype, in memory order
    dtype = acc.dtype
    sig = types.void(acc, a0, a1, a2, a3, b0, b1, b2, b3)

    def codegen(context, builder, signature, args):
        acc_data, *b_data = (context.make_array(signature.args[i])(context, builder, args[i]).data
                             for i in (0, 5, 6, 7, 8))
        lanes = 512 // dtype.bitwidth
        vec = ir.VectorType(context.get_value_type(dtype), lanes)
        splats = [_splat(builder, vec, context.cast(builder, args[i], signature.args[i], dtype)) for i in range(1, 5)]
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                             f"llvm.fma.v{lanes}f{dtype.bitwidth}")
        align = dtype.bitwidth // 8                      # rows need not start on a vector boundary
        for half in range(ROW_BYTES * 8 // 512):
            offset = [context.get_constant(types.intp, half * lanes)]
            loads = [builder.load(builder.bitcast(builder.gep(d, offset), vec.as_pointer()), align=align)
                     for d in b_data]
            total = builder.fmul(splats[0], loads[0])
            for splat, row in zip(splats[1:], loads[1:]):
                total = builder.call(fma, [splat, row, total])
            p_acc = builder.bitcast(builder.gep(acc_data, offset), vec.as_pointer())
            builder.store(builder.fadd(builder.load(p_acc, align=align), total), p_acc, align=align)
        return context.get_dummy_value()
    return sig, codegen


@overload(fma_four_rows, inline="always")
def _fma_four_compiled(acc, a0, a1, a2, a3, b0, b1, b2, b3):
    if not all(r.layout == "C" for r in (acc, b0, b1, b2, b3)):
        return lambda acc, a0, a1, a2, a3, b0, b1, b2, b3: _fma_four_loop(acc, a0, a1, a2, a3, b0, b1, b2, b3)

    def impl(acc, a0, a1, a2, a3, b0, b1, b2, b3):
        _fma_four_wide(acc, a0, a1, a2, a3, b0, b1, b2, b3)
    return impl


_fma_four_loop = jit_fma(fma_four_rows)   # rows that are not contiguous (panels from a strided view)


@overload(fma_row, inline="always")
def _fma_row_compiled(acc, a, b):
    if acc.layout != "C" or b.layout != "C":            # the vectors need the rows contiguous
        return lambda acc, a, b: _fma_row_loop(acc, a, b)   # fma_row's own loop

    def impl(acc, a, b):
        _fma_wide(acc, a, b)
    return impl


_fma_row_loop = jit_fma(fma_row)    # rows that are not contiguous (panels from a strided view)


@intrinsic
def _store_wide(typingctx, dest, row, add):
    """``dest[0:NR] = row[0:NR]``, plus ``dest[0:NR]`` where ``add`` (a literal), for two
    C-contiguous rows of ``ROW_BYTES``, as 512-bit vector loads, adds and stores."""
    rows = (dest, row)
    if not all(isinstance(r, types.Array) and r.ndim == 1 and r.layout == "C" for r in rows) \
            or dest.dtype != row.dtype or not isinstance(row.dtype, types.Float) \
            or not isinstance(add, types.BooleanLiteral):
        return None                                      # rows of one float dtype, in memory order
    dtype, adding = row.dtype, add.literal_value
    sig = types.void(dest, row, add)

    def codegen(context, builder, signature, args):
        dest_data, row_data = (context.make_array(t)(context, builder, v).data
                               for t, v in zip(signature.args[:2], args[:2]))
        lanes = 512 // dtype.bitwidth
        vec = ir.VectorType(context.get_value_type(dtype), lanes)
        align = dtype.bitwidth // 8                      # rows need not start on a vector boundary
        for half in range(ROW_BYTES * 8 // 512):
            offset = [context.get_constant(types.intp, half * lanes)]
            p_dest = builder.bitcast(builder.gep(dest_data, offset), vec.as_pointer())
            value = builder.load(builder.bitcast(builder.gep(row_data, offset), vec.as_pointer()), align=align)
            if adding:
                value = builder.fadd(builder.load(p_dest, align=align), value)
            builder.store(value, p_dest, align=align)
        return context.get_dummy_value()
    return sig, codegen


@overload(store_row, inline="always")
def _store_row_compiled(dest, row, add):
    if dest.layout != "C" or row.layout != "C" or dest.dtype != row.dtype:
        # the vectors need contiguous rows of one dtype (``panels_add_into`` refuses two dtypes at
        # run time, but its code for them must still compile)
        return lambda dest, row, add: _store_row_loop(dest, row, add)   # store_row's own loop

    def impl(dest, row, add):
        if add:
            _store_wide(dest, row, True)
        else:
            _store_wide(dest, row, False)
    return impl


_store_row_loop = jit_fma(store_row)
