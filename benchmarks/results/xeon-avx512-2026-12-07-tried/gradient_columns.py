"""The LSTM backward's gradient GEMMs on 2 cores, split by the rows of T·N (as the passes do) or
by the columns of da.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/gradient_columns.py

"rows": ``kernels.passes.param_grads_blocks`` as a pass in two row blocks runs it (BLAS on one
thread in each, ``team.serial_blas``; the pieces of ``layout.gradient_pieces``): block k takes
dx, dW_ih and dW_hh over its half of the T·N rows, block 1's shares of dW_ih and dW_hh go to
scratch arrays and are added to block 0's after.

"columns": block k takes dx over its half of the rows, as above, and the rows of dW_ih and dW_hh
that half of da's 4H columns give, over all T·N rows (in the same pieces of rows where the pass
has them; one GEMM where the pass groups da's columns for BLAS's small-matrix kernels): no
shares to add, and twice the rows per GEMM. Both add into the gradients and take the bias sums
the same way. float32, I = H; 15 rounds of 5 calls each, the two in turn (``rounds.py``).
"""
import numpy as np
from numba import njit, prange

from scratchrnn import layout
from scratchrnn.kernels import team
from scratchrnn.kernels.blas import add_product_t
from scratchrnn.kernels.passes import param_grads_blocks
from scratchrnn.kernels.sums import add_into, column_sums

from rounds import alternate, header, paired   # this folder's

# (T, N, H): LSTM misses of the 2026-12-07 grid at T=32 N=16 (T·N = 512: 256 rows a block) and
# more rows, and the shape of MNIST's second layer (its first has I = 28)
POINTS = [(32, 16, 128), (32, 16, 512), (32, 16, 1024), (64, 16, 512), (128, 16, 512), (32, 64, 512),
          (128, 64, 512), (28, 100, 128)]


@njit(error_model="numpy", parallel=True)   # not cached: see README.md
def by_columns(x2, h2, w_ih, d_a2, dx2, dw_ih, dw_hh, db_ih, db_hh, piece_rows, nblocks):
    """dx over row blocks; dw_ih, dw_hh (+)= over all rows, in blocks of da's columns; the bias sums
    by row blocks, as ``param_grads_blocks`` takes them (the LSTM's db_hh gets db_ih's sums)."""
    R, GH = d_a2.shape
    sums = np.empty((nblocks, GH), dtype=d_a2.dtype)
    for k in prange(nblocks):
        r0, r1 = R * k // nblocks, R * (k + 1) // nblocks
        g0, g1 = GH * k // nblocks, GH * (k + 1) // nblocks
        for p0 in range(0, R, piece_rows):
            p1 = min(p0 + piece_rows, R)
            add_product_t(dw_ih[g0:g1], d_a2[p0:p1, g0:g1], x2[p0:p1])
            add_product_t(dw_hh[g0:g1], d_a2[p0:p1, g0:g1], h2[p0:p1])
        np.dot(d_a2[r0:r1], w_ih, dx2[r0:r1])
        column_sums(d_a2, sums[k], r0, r1)
    for k in range(1, nblocks):
        add_into(sums[0], sums[k])
    add_into(db_ih, sums[0])
    add_into(db_hh, sums[0])


def point(T, N, H, rng):
    """{name: function} for the two ways at one point, and their results from zeros compared."""
    f32, R, GH, nb = np.float32, T * N, 4 * H, 2
    x2, h2 = (rng.standard_normal((R, H)).astype(f32) for _ in range(2))
    w_ih, w_hh = ((rng.uniform(-1, 1, (GH, H)) / np.sqrt(H)).astype(f32) for _ in range(2))
    d_a2 = rng.standard_normal((R, GH)).astype(f32)
    chunk, piece_rows, piece_cols = layout.gradient_pieces(T, N, nb, False, w_ih, w_hh)
    col_pieces = piece_rows if piece_cols == GH else R

    def outputs():
        return np.empty((R, H), f32), np.zeros((GH, H), f32), np.zeros((GH, H), f32), np.zeros(GH, f32), \
            np.zeros(GH, f32)
    kept = {"rows": outputs(), "columns": outputs()}
    partial = np.empty((nb - 1, GH, H), f32), np.empty((nb - 1, GH, H), f32)

    def rows(out=kept["rows"]):
        with team.serial_blas(nb):
            param_grads_blocks(x2, h2, w_ih, d_a2, np.empty((0, GH), f32), *out, *partial, chunk, piece_rows,
                               piece_cols, nb)

    def columns(out=kept["columns"]):
        with team.serial_blas(nb):
            by_columns(x2, h2, w_ih, d_a2, *out, col_pieces, nb)

    fresh = {"rows": outputs(), "columns": outputs()}
    rows(fresh["rows"])
    columns(fresh["columns"])
    differ = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(fresh["columns"], fresh["rows"]))
    note = f"pieces of {piece_rows} rows" + (f", da's columns in groups of {piece_cols}" if piece_cols < GH else "")
    return {"rows": rows, "columns": columns}, differ, note


def main():
    print(header())
    print("LSTM, float32, I = H; the ways take turns, 15 rounds of 5 calls; ms: median over the rounds;"
          " columns/rows: the median over the rounds of the ratio within a round (least – largest)")
    rng = np.random.default_rng(0)
    for T, N, H in POINTS:
        variants, differ, note = point(T, N, H, rng)
        times = alternate(variants, rounds=15)
        flops = 3 * 2 * T * N * 4 * H * H
        ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
        print(f"T={T} N={N} H={H} ({note}): rows {ms['rows']:.2f} ms ({flops / ms['rows'] / 1e6:.0f} GFLOP/s), "
              f"columns {ms['columns']:.2f} ms ({flops / ms['columns'] / 1e6:.0f}); columns/rows "
              f"{paired(times, 'columns', 'rows')}; largest difference of the results {differ:.1e} of the largest value",
              flush=True)


if __name__ == "__main__":
    main()
