"""The per-step product with the weights packed once per pass into column panels.

``c + a @ b`` for a few rows of ``a`` (N, K) and a large ``b`` (K, M) is what every step of a
time loop computes. Read row by row, ``b`` is streamed from memory once per few rows of
``a``; OpenBLAS instead packs all of ``b`` on every call. Here ``b`` is packed once per pass
into panels of ``NR`` columns, ``panels[p, k, j] = b[k, p·NR + j]`` (``pack_into``), and each
step multiplies panel by panel: a panel (K × NR) stays in L2 while every group of eight
rows of ``a`` passes over it, and the 8 × NR sums of a group stay in registers for all K
(``_row_group``; the rows past the last group of eight go in pairs, ``_row_pair``). So ``b`` is
read from memory once per step, whatever the number of rows. Where ``b`` does not stay in the
caches (float64 ``W_hh`` of the LSTM and GRU at H = 1024), that read sets the pace: each step of
a group's sums asks for the panel row ``PREFETCH_ROWS`` ahead (``_prefetch_row``); left to
itself, the CPU's prefetcher fetched the rows too late (numbers at ``PREFETCH_ROWS``).

The sums live in a tile on the stack (``_tile``): with a fixed size and no other pointer
to it, LLVM keeps it in vector registers. Each step of the sums is a multiply-add of one
panel row into one tile row (``_fma_row``), compiled as two explicit 512-bit vector FMAs:
Numba's loops get 256-bit vectors on CPUs that prefer them (LLVM's choice for this Xeon), and
at that width the tile of eight rows would not fit the registers. Eight rows in 512-bit
vectors against four in 256-bit ones, one core of the Xeon, float32, timed one after the
other: 128–144 against 99–101 GFLOP/s at 32 × 512 by 512 × 2048, 107–109 against 77–78 at 8
rows (benchmarks/results/xeon-avx512-2026-12-02-wide/wide_ab_cpu.md has the whole passes).
``NUMBA_DISABLE_JIT=1`` runs the same lines with a NumPy tile and a loop for ``_fma_row``.
"""


from llvmlite import ir
import numpy as np
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from scratchrnn.kernels.gates import is_single
from scratchrnn.kernels.jit import jit, jit_fma, jit_inline
from scratchrnn.kernels.transpose import transpose_into, wide_registers

PANEL_BYTES = 128      # a panel row: 32 float32 or 16 float64, two 512-bit vectors either way
ROWS = 8               # rows of a per group: 8 × NR sums, 16 of AVX-512's 32 vector registers
PAIR = 2               # rows of a group past the last whole group of ROWS (``panels_add``)
# How far ahead of the row being read each step of the sums prefetches: 64 rows (8 KiB), into
# every cache level (``PREFETCH_LOCALITY``, llvm.prefetch's locality: 3 is ``prefetcht0`` on x86).
# One core of an AMD EPYC Zen 4, b of 1024 × 4096 (benchmarks/results/zen4-avx512-2026-12-06-
# prefetch/prefetch_cpu.md): float64 (32 MiB, which the shared L3 of 32 MiB did not keep), 8 rows,
# 22.5–23.2 GFLOP/s without, 43.5–45.6 with (54 with b in cache); 37.5 asking 16 rows ahead, 44.0
# at 32 (one run each); float32 (16 MiB) 92.7–93.3 against 110.8–110.9. With b in cache, within
# 2 %. Whole float64 forward+backward passes at T=32 N=16 H=1024: LSTM and GRU about 0.78x the time.
PREFETCH_ROWS = 64
PREFETCH_LOCALITY = 3

# When a pass packs its weights (``use_panels``). Measured on the Intel Xeon (AVX-512),
# ``python -m scratchrnn.bench.products`` (benchmarks/results/xeon-avx512-2026-12-02-wide/
# products_cpu.md): one thread, 128 steps per shape, H = 128, 256, 512 with G = 1, 3 and 4,
# against the plain weights multiplied the way ``products.matmul_add`` picks (own loops, or
# BLAS on one thread, with its small-matrix kernels where they take the product). From 8 to
# 64 rows the panels took 0.33–1.11x the plain time in float32 and 0.47–1.07x in float64
# (e.g. float32 32 × 512 by 512 × 2048: 155 against 85 GFLOP/s); the rule picks the faster
# way or one within 10 % at 178 of 180 cases, the other two 1.11x (8 × 256 by 256 × 256,
# BLAS's small-matrix kernel). With 4 rows, half of a group repeats a row and the panels
# lost (0.85–1.71x, an earlier run). More than 64 rows and b with a side under 128 were not
# measured, so BLAS keeps them.
MIN_ROWS = 8
MAX_ROWS = 64
MIN_SIDE = 128         # rows and columns of b


def panel_width(dtype):
    """Columns per panel, ``NR``, for arrays of ``dtype``."""
    return PANEL_BYTES // np.dtype(dtype).itemsize


def panels_shape(K, M, dtype):
    """Shape of ``b`` (K, M) packed: (M / NR, K, NR). M must be a multiple of NR."""
    nr = panel_width(dtype)
    if M % nr:
        raise ValueError(f"panels: expected M a multiple of {nr} columns, got M={M}")
    return (M // nr, K, nr)


def use_panels(rows, K, M, dtype):
    """Whether a pass multiplies ``rows`` rows per step by a b (K, M) of ``dtype`` from its
    panels. Never on a CPU without AVX-512 (``wide_registers``): with its 32 vector registers
    the 16 sums of a group and the values they multiply fit in them. The rule above was
    measured on such a CPU only; with AVX2's 16 registers the sums would spill to memory, so
    there the plain ways stay."""
    if not MIN_ROWS <= rows <= MAX_ROWS or K < MIN_SIDE or M < MIN_SIDE:
        return False                                     # decided without a dtype lookup: rows or b out of range
    return M % panel_width(dtype) == 0 and wide_registers()


@jit
def pack_into(b, panels):
    """``panels[p, k, j] = b[k, p·NR + j]`` for b (K, M) and panels (M / NR, K, NR); returns
    panels. A b with rows in memory (C order) is copied a row at a time; a transposed view
    (``W_hh.T``) holds each panel as NR rows of ``W_hh``, which ``transpose.transpose_into``
    copies a register tile at a time (Intel Xeon, float32, W_hhᵀ of H = 512 and 1024: 0.34
    and 1.45 ms, against 0.66 and 2.6 ms element by element down the columns of the view)."""
    K, M = b.shape
    P, _, NR = panels.shape
    if panels.shape != (M // NR, K, NR) or M % NR:
        raise ValueError("pack_into: expected panels of shape (M / NR, K, NR) for b (K, M)")
    if b.strides[0] < b.strides[1]:                      # b[k + 1, j] is next to b[k, j]: b = aᵀ
        a = b.T                                          # (M, K)
        for p in range(P):
            transpose_into(a[p * NR:(p + 1) * NR], panels[p])
        return panels
    for p in range(P):
        panel = panels[p]
        for k in range(K):
            for j in range(NR):
                panel[k, j] = b[k, p * NR + j]
    return panels


@jit
def columns(panels):
    """(K, M) of the ``b`` that ``panels`` hold."""
    P, K, NR = panels.shape
    return K, P * NR


@jit_fma
def panels_add(c, a, panels):
    """``c + a @ b`` as a new (N, M) array, b given as its panels (``pack_into``); c (N, M)
    or None for zero.

    Rows go in groups of ``ROWS``, the rows past the last whole group in pairs (``PAIR``); an
    odd last pair repeats its row (computed the same way, not written again). Every row is
    summed in the same order whatever its group. A group's time is its multiply-adds, so a
    short last group of eight wasted the rows it repeated. 50 rows × 128 by 128 × 512 (a block
    of MNIST's batch of 100; one core of an AMD EPYC Zen 4, float32, 28 steps): 70.7 µs a step
    with a seventh group that repeated six of its rows, 62.9 with a pair (48 rows: 60.3); by
    W_hh (512 × 128) back, 64.5 against 59.6.

    ``c`` is copied into the output first, in memory order, and each group's sums are then added
    in place. A group that read its own block of ``c`` instead (``ROWS`` pieces of ``PANEL_BYTES``,
    a row apart) waited on memory for each piece, where the copy streams ``c`` in order. One
    core of an AMD EPYC Zen 5, float32, 128 steps each adding a different ``c`` as a time loop
    does: 32 × 512 by 512 × 512 ran at 105–109 GFLOP/s reading ``c`` in the groups and at 196–200
    copying it first; 64 × 128 by 128 × 512 at 39–46 against 151; 8 × 512 by 512 × 2048 at
    123–174 against 195–199 (benchmarks/results/zen5-avx512-2026-12-03-evening/
    panels_copy_products.md; whole models: panels_copy_ab.md there).
    """
    N, K = a.shape
    P, _, NR = panels.shape
    if panels.shape[1] != K or (c is not None and c.shape != (N, P * NR)):
        raise ValueError("panels_add: expected a (N, K), panels (M / NR, K, NR) and c (N, M) or None")
    if NR * panels.itemsize != PANEL_BYTES:             # the tile's width comes from the dtype
        raise ValueError("panels_add: expected panels of PANEL_BYTES // itemsize columns (panels_shape)")
    if is_single(a) != is_single(panels):
        raise ValueError("panels_add: expected a and panels of one dtype")
    if c is None:
        out = np.empty((N, P * NR), dtype=a.dtype)     # (N, M)
    else:
        out = c.copy()                                 # (N, M)
    whole = N - N % ROWS                               # rows in whole groups
    for p in range(P):
        for n in range(0, whole, ROWS):
            _row_group(out, c is not None, a, panels[p], p * NR, n, N - 1)
        for n in range(whole, N, PAIR):
            _row_pair(out, c is not None, a, panels[p], p * NR, n, N - 1)
    return out


@jit_fma
def _row_group(out, add, a, panel, j0, n, last):
    """``out[r, j0:j0+NR] += a[r] @ panel`` (``add``), else ``=``, for the ``ROWS`` rows
    r = n, n + 1, …; rows past ``last`` sum row ``last`` again and are not written."""
    _sum_rows(_tile(panel), out, add, a, panel, j0, n, last)


@jit_fma
def _row_pair(out, add, a, panel, j0, n, last):
    """``_row_group`` for ``PAIR`` rows."""
    _sum_rows(_pair_tile(panel), out, add, a, panel, j0, n, last)


@jit_inline
def _sum_rows(acc, out, add, a, panel, j0, n, last):
    """The sums of a group of rows in the tile ``acc`` (rows, NR), zeroed and on the stack of the
    group's function, into which this is inlined: the tile's shape is a constant there, so the
    loop over its rows is unrolled and the sums stay in registers."""
    rows, NR = acc.shape
    for k in range(a.shape[1]):
        _prefetch_row(panel, k + PREFETCH_ROWS)
        b_k = panel[k]                                  # (NR,)
        for i in range(rows):                           # unrolled: a constant
            _fma_row(acc[i], a[min(n + i, last), k], b_k)
    for i in range(min(rows, last + 1 - n)):
        _store_row(out[n + i, j0:j0 + NR], acc[i], add)


def _store_row(dest, row, add):
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


def _fma_row(acc, a, b):
    """``acc[j] += a · b[j]`` for one tile row and one panel row (NR values each).

    Compiled (``_fma_row_compiled``) as two 512-bit fused multiply-adds, one rounding per
    element; here, with the JIT off, a multiply and an add, two roundings.
    """
    for j in range(acc.size):
        acc[j] += a * b[j]


def _tile(panel):
    """A zeroed (ROWS, NR) array of the dtype of ``panel`` (K, NR).

    Compiled (``_tile_compiled``), NR comes from the dtype and the array lives on the stack of
    the function that calls it (it is inlined there): only ``_row_group`` may call it (and hand
    it to ``_sum_rows``, inlined there too), and the tile must not outlive that call.
    ``panels_add`` checks that the panels are that wide.
    """
    return np.zeros((ROWS, panel.shape[1]), dtype=panel.dtype)


def _pair_tile(panel):
    """``_tile`` of ``PAIR`` rows, for ``_row_pair`` alone."""
    return np.zeros((PAIR, panel.shape[1]), dtype=panel.dtype)


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


def _stack_tile(rows):
    """The compiled form of a tile of ``rows`` rows (``_tile``, ``_pair_tile``)."""
    def typer(panel):
        nr = PANEL_BYTES // (panel.dtype.bitwidth // 8)
        size = rows * nr

        def impl(panel):
            return carray(_stack_zeros(panel, size), (rows, nr))
        return impl
    return typer


_tile_compiled = overload(_tile, inline="always")(_stack_tile(ROWS))
_pair_tile_compiled = overload(_pair_tile, inline="always")(_stack_tile(PAIR))


def _prefetch_row(panel, k):
    """Ask the CPU to bring row k of ``panel`` into its caches; a hint, which changes no result
    (with the JIT off, nothing)."""


@overload(_prefetch_row, inline="always")
def _prefetch_row_compiled(panel, k):
    if panel.layout != "C":                             # panels from a strided view: no hint
        return lambda panel, k: None
    return lambda panel, k: _prefetch(panel, k)


@intrinsic
def _prefetch(typingctx, panel, k):
    """``llvm.prefetch`` every 64 bytes (a cache line) of row k of ``panel``, a C-contiguous (K, NR)
    array of ``PANEL_BYTES`` rows: k may lie past the panel's last row (the next panel's rows, or
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
        for line in range(0, PANEL_BYTES, 64):
            address = builder.inttoptr(builder.add(start, ir.Constant(intp, line)), i8p)
            # read, locality PREFETCH_LOCALITY (3: keep in all levels), data cache
            builder.call(fetch, [address, ir.Constant(i32, 0), ir.Constant(i32, PREFETCH_LOCALITY), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def _fma_wide(typingctx, acc, a, b):
    """``acc[0:NR] += a · b[0:NR]`` for two C-contiguous rows of ``PANEL_BYTES``, as two
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
        splat = ir.Constant(vec, ir.Undefined)
        for i in range(lanes):
            splat = builder.insert_element(splat, value, ir.Constant(ir.IntType(32), i))
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                             f"llvm.fma.v{lanes}f{dtype.bitwidth}")
        align = dtype.bitwidth // 8                      # rows need not start on a vector boundary
        for half in range(PANEL_BYTES * 8 // 512):
            offset = [context.get_constant(types.intp, half * lanes)]
            p_acc = builder.bitcast(builder.gep(acc_data, offset), vec.as_pointer())
            p_b = builder.bitcast(builder.gep(b_data, offset), vec.as_pointer())
            total = builder.call(fma, [splat, builder.load(p_b, align=align), builder.load(p_acc, align=align)])
            builder.store(total, p_acc, align=align)
        return context.get_dummy_value()
    return sig, codegen


@overload(_fma_row, inline="always")
def _fma_row_compiled(acc, a, b):
    if acc.layout != "C" or b.layout != "C":            # the vectors need the rows contiguous
        return lambda acc, a, b: _fma_row_loop(acc, a, b)   # _fma_row's own loop

    def impl(acc, a, b):
        _fma_wide(acc, a, b)
    return impl


_fma_row_loop = jit_fma(_fma_row)    # rows that are not contiguous (panels from a strided view)


@intrinsic
def _store_wide(typingctx, dest, row, add):
    """``dest[0:NR] = row[0:NR]``, plus ``dest[0:NR]`` where ``add`` (a literal), for two
    C-contiguous rows of ``PANEL_BYTES``, as 512-bit vector loads, adds and stores."""
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
        for half in range(PANEL_BYTES * 8 // 512):
            offset = [context.get_constant(types.intp, half * lanes)]
            p_dest = builder.bitcast(builder.gep(dest_data, offset), vec.as_pointer())
            value = builder.load(builder.bitcast(builder.gep(row_data, offset), vec.as_pointer()), align=align)
            if adding:
                value = builder.fadd(builder.load(p_dest, align=align), value)
            builder.store(value, p_dest, align=align)
        return context.get_dummy_value()
    return sig, codegen


@overload(_store_row, inline="always")
def _store_row_compiled(dest, row, add):
    if dest.layout != "C" or row.layout != "C" or dest.dtype != row.dtype:
        # the vectors need contiguous rows of one dtype (``panels_add`` refuses two dtypes at
        # run time, but its code for them must still compile)
        return lambda dest, row, add: _store_row_loop(dest, row, add)   # _store_row's own loop

    def impl(dest, row, add):
        if add:
            _store_wide(dest, row, True)
        else:
            _store_wide(dest, row, False)
    return impl


_store_row_loop = jit_fma(_store_row)
