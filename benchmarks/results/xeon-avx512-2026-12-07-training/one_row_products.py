"""One sequence's per-step product with its sums in registers, against ``kernels.matmul_add``.

    python benchmarks/results/xeon-avx512-2026-12-07-training/one_row_products.py

A prototype, not part of the package: for one row ``a`` (1, K) and a C-ordered ``b`` (K, M),
eight column blocks of 32 float32 (16 float64) summed at a time in a tile of vector registers
(``panels``' tile, two 512-bit FMAs per block and row of b, read at an offset into b without
views), then four or two blocks; with ``split``, four or two blocks sum even and odd rows of b
apart, for more sums side by side where M is small. Against ``matmul_add`` as the time loops
call it for one row (its own loops, ``products._add_one_row``), 128 steps in a compiled loop,
each adding a different ``c``, medians of 20 alternating runs; "err": the largest difference
from the float64 product. Only M a multiple of the block (32 float32, 16 float64) is tried.
"""
import time

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from llvmlite import ir
from scratchrnn.kernels.jit import jit_fma, jit_inline
from scratchrnn.kernels import panels as P
from scratchrnn.kernels.products import matmul_add
from scratchrnn.bench import environment

@intrinsic
def _fma_off(typingctx, acc, a, b, off):
    """acc[0:NR] += a * b[off:off+NR]; acc (NR,) C, b 1-D C."""
    dtype = acc.dtype
    sig = types.void(acc, a, b, off)
    def codegen(context, builder, signature, args):
        acc_data = context.make_array(signature.args[0])(context, builder, args[0]).data
        b_data = context.make_array(signature.args[2])(context, builder, args[2]).data
        b_data = builder.gep(b_data, [context.cast(builder, args[3], signature.args[3], types.intp)])
        lanes = 512 // dtype.bitwidth
        vec = ir.VectorType(context.get_value_type(dtype), lanes)
        value = context.cast(builder, args[1], signature.args[1], dtype)
        splat = ir.Constant(vec, ir.Undefined)
        for i in range(lanes):
            splat = builder.insert_element(splat, value, ir.Constant(ir.IntType(32), i))
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{lanes}f{dtype.bitwidth}")
        align = dtype.bitwidth // 8
        for half in range(P.PANEL_BYTES * 8 // 512):
            offset = [context.get_constant(types.intp, half * lanes)]
            p_acc = builder.bitcast(builder.gep(acc_data, offset), vec.as_pointer())
            p_b = builder.bitcast(builder.gep(b_data, offset), vec.as_pointer())
            total = builder.call(fma, [splat, builder.load(p_b, align=align), builder.load(p_acc, align=align)])
            builder.store(total, p_acc, align=align)
        return context.get_dummy_value()
    return sig, codegen

def _quad_tile(b):
    return np.zeros((4, b.shape[1]), dtype=b.dtype)
overload(_quad_tile, inline="always")(P._stack_tile(4))

@jit_inline
def _sum_blocks(acc, out, add, a, flat, M, NR, g, last):
    rows = acc.shape[0]
    for k in range(a.shape[1]):
        a_k = a[0, k]
        base = k * M
        for i in range(rows):
            _fma_off(acc[i], a_k, flat, base + min(g + i, last) * NR)
    for i in range(min(rows, last + 1 - g)):
        P._store_row(out[g + i], acc[i], add)

@jit_inline
def _sum_split(acc, out, add, a, flat, M, NR, g, last):
    """half the tile sums even k, half odd k (rows = 2 * blocks)."""
    rows = acc.shape[0]
    half = rows // 2
    K = a.shape[1]
    for k in range(0, K - 1, 2):
        a0 = a[0, k]; a1 = a[0, k + 1]
        for i in range(half):
            _fma_off(acc[i], a0, flat, k * M + min(g + i, last) * NR)
            _fma_off(acc[half + i], a1, flat, (k + 1) * M + min(g + i, last) * NR)
    if K % 2:
        for i in range(half):
            _fma_off(acc[i], a[0, K - 1], flat, (K - 1) * M + min(g + i, last) * NR)
    for i in range(half):
        for j in range(NR):
            acc[i, j] += acc[half + i, j]
    for i in range(min(half, last + 1 - g)):
        P._store_row(out[g + i], acc[i], add)

@jit_fma
def _group8(out, add, a, flat, M, NR, g, last):
    _sum_blocks(P._tile(out), out, add, a, flat, M, NR, g, last)
@jit_fma
def _group4(out, add, a, flat, M, NR, g, last):
    _sum_blocks(_quad_tile(out), out, add, a, flat, M, NR, g, last)
@jit_fma
def _group2(out, add, a, flat, M, NR, g, last):
    _sum_blocks(P._pair_tile(out), out, add, a, flat, M, NR, g, last)
@jit_fma
def _split4(out, add, a, flat, M, NR, g, last):      # 4 blocks, K split in two: 8 tile rows
    _sum_split(P._tile(out), out, add, a, flat, M, NR, g, last)
@jit_fma
def _split2(out, add, a, flat, M, NR, g, last):
    _sum_split(_quad_tile(out), out, add, a, flat, M, NR, g, last)

@jit_fma
def one_row_add(c, a, b, split):
    K, M = b.shape
    NR = P.PANEL_BYTES // b.itemsize
    B = M // NR
    flat = b.reshape(K * M)
    if c is None:
        out = np.empty((1, M), dtype=a.dtype)
    else:
        out = c.copy()
    o3 = out.reshape((B, NR))
    g = 0
    while g + 8 <= B:
        _group8(o3, c is not None, a, flat, M, NR, g, B - 1); g += 8
    if split:
        if g + 4 <= B:
            _split4(o3, c is not None, a, flat, M, NR, g, B - 1); g += 4
        while g < B:
            _split2(o3, c is not None, a, flat, M, NR, g, B - 1); g += 2
    else:
        if g + 4 <= B:
            _group4(o3, c is not None, a, flat, M, NR, g, B - 1); g += 4
        while g < B:
            _group2(o3, c is not None, a, flat, M, NR, g, B - 1); g += 2
    return out

@njit
def loop_old(cs, a, b):
    s = 0.0
    for t in range(cs.shape[0]):
        s += matmul_add(cs[t], a, b, 0)[0, 0]
    return s
@njit
def loop_new(cs, a, b, split):
    s = 0.0
    for t in range(cs.shape[0]):
        s += one_row_add(cs[t], a, b, split)[0, 0]
    return s

rng = np.random.default_rng(0)
T = 128
cpu = environment.cpu_record()
print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), f"{cpu['model']}, {cpu['isa']},",
      f"{cpu['usable_cpus']} CPUs", flush=True)
for dtype in (np.float32, np.float64):
    for name, K, M in [("lstm32 f", 32, 128), ("lstm32 b", 128, 32), ("lstm64 f", 64, 256), ("lstm64 b", 256, 64), ("lstm128 f", 128, 512), ("lstm128 b", 512, 128),
                       ("lstm160 f", 160, 640), ("lstm160 b", 640, 160), ("gru128 f", 128, 384), ("gru128 b", 384, 128),
                       ("rnn256", 256, 256), ("rnn352", 352, 352), ("gru32 f", 32, 96)]:
        if M % (P.PANEL_BYTES // np.dtype(dtype).itemsize): continue
        a = rng.standard_normal((1, K)).astype(dtype)
        b = rng.standard_normal((K, M)).astype(dtype)
        cs = rng.standard_normal((T, 1, M)).astype(dtype)
        ref = (a.astype(np.float64) @ b.astype(np.float64))
        e = [np.abs(matmul_add(cs[0], a, b, 0) - cs[0] - ref).max()] + [np.abs(one_row_add(cs[0], a, b, s) - cs[0] - ref).max() for s in (False, True)]
        for s in (False, True):
            assert np.allclose(one_row_add(None, a, b, s), ref, rtol=1e-4, atol=1e-3), name
        ts = [[], [], []]
        for r in range(21):
            t = time.perf_counter(); loop_old(cs, a, b); ts[0].append(time.perf_counter() - t)
            t = time.perf_counter(); loop_new(cs, a, b, False); ts[1].append(time.perf_counter() - t)
            t = time.perf_counter(); loop_new(cs, a, b, True); ts[2].append(time.perf_counter() - t)
        o, n, s = (np.median(v[1:]) / T * 1e6 for v in ts)
        print(f"{np.dtype(dtype).name} {name:10s} K={K:4d} M={M:4d} old {o:6.2f} new {n:6.2f} ({n/o:.2f}) split {s:6.2f} ({s/o:.2f}) us  err {e[0]:.1e} {e[1]:.1e} {e[2]:.1e}  best {b.nbytes/min(n,s)/1e3:.0f} GB/s", flush=True)
