"""A weight gradient summed in chunks of rows (``kernels.sums.product_in_chunks``: each chunk's
product added into the whole of dW), against the same chunks taken band by band of dW's rows:
each band of ``BAND`` rows summed over every chunk in turn, so that it stays in the core's cache
(2 MiB of L2 here) while the chunks are added into it.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/gradient_bands.py

BLAS held on one thread, as in a row block. Each case is one row block's weight gradient (half of
T·N rows) of a grid point where the RNN's or GRU's dW is summed in chunks; dW is (G·H, H) float32.
Every band's product is ``blas.add_product_t`` on that band's columns of the chunk's rows, so each
element is summed as before: the results are checked equal to the bit. 9 rounds of 5 calls each,
the two in turn (``rounds.py``). Run it with the package installed, as the folder's other
scripts.
"""
import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from scratchrnn.kernels import team
from scratchrnn.kernels.blas import add_product_t
from scratchrnn.kernels.sums import product_in_chunks

from rounds import alternate, header, paired   # this folder's

BAND, ROUNDS = 256, 9
# (point and gradient, rows of one block, dW's rows G·H, its columns, the chunk's rows)
CASES = [("RNN T=32 N=16 H=1024, dW_hh", 256, 1024, 1024, 32),
         ("RNN T=32 N=16 H=1024, dW_ih", 256, 1024, 1024, 128),
         ("GRU T=32 N=16 H=1024, dW_hh", 256, 3072, 1024, 32),
         ("RNN T=32 N=64 H=1024, dW_hh", 1024, 1024, 1024, 64),
         ("GRU T=32 N=64 H=1024, dW_hh", 1024, 3072, 1024, 64),
         ("GRU T=32 N=64 H=512, dW_hh", 1024, 1536, 512, 64),
         ("RNN T=32 N=256 H=512, dW_hh", 4096, 512, 512, 256)]


@njit(error_model="numpy")   # as the package compiles its kernels, uncached
def in_bands(a, b, out, chunk, band):
    """out += aᵀ b over a's rows in chunks of ``chunk``, band by band of ``band`` rows of out."""
    M = out.shape[0]
    for m0 in range(0, M, band):
        m1 = min(m0 + band, M)
        for c0 in range(0, a.shape[0], chunk):
            c1 = min(c0 + chunk, a.shape[0])
            add_product_t(out[m0:m1], a[c0:c1, m0:m1], b[c0:c1])


def main():
    print(header())
    print(f"one weight gradient of a row block, float32, BLAS on one thread; bands of {BAND} rows of dW; "
          f"{ROUNDS} rounds, the two in turn; GFLOP/s: over the median of the rounds; bands/chunks: median "
          "over the rounds of the ratio within a round (least – largest)")
    team.serial_blas.libraries()                     # SciPy's BLAS loaded before the limit below
    rng = np.random.default_rng(0)
    with threadpool_limits(1, user_api="blas"):
        for label, R, M, K, chunk in CASES:
            a = rng.standard_normal((R, M)).astype(np.float32)
            b = rng.standard_normal((R, K)).astype(np.float32)
            chunks_out, bands_out = np.zeros((M, K), np.float32), np.zeros((M, K), np.float32)
            product_in_chunks(a, b, chunks_out, 0, R, chunk, True)
            in_bands(a, b, bands_out, chunk, BAND)
            assert np.array_equal(chunks_out, bands_out), label
            times = alternate({"chunks": lambda: product_in_chunks(a, b, chunks_out, 0, R, chunk, True),
                               "bands": lambda: in_bands(a, b, bands_out, chunk, BAND)}, ROUNDS)
            gflops = {k: 2 * R * M * K / np.median(v) / 1e9 for k, v in times.items()}
            print(f"{label} ({M} x {K}, {R} rows, chunks of {chunk}): chunks {gflops['chunks']:.0f} GFLOP/s, "
                  f"bands {gflops['bands']:.0f}; bands/chunks {paired(times, 'bands', 'chunks')}", flush=True)


if __name__ == "__main__":
    main()
