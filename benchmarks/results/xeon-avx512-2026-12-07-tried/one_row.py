"""One sequence's per-step product with the package's own loops, against the same sums with
``b`` indexed in place, and against those written into an output kept from step to step.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/one_row.py

``kernels.products.matmul_add(c, a, b, 0)`` for a of one row: a fresh (1, M) array each step,
``_add_one_row`` taking views of b's rows. "indexed": the same loops reading b[k, j] in place,
the fresh array kept; "kept": those loops writing into one (M,) array for all steps (what a pass
would get by giving the products their output). The same sums in the same order: the results
are checked equal to the bit. T = 128 steps with a's rows from one (T, 1, K) array, in one
compiled loop, repeated; float32; 9 rounds of 5 calls each, the three in turn (``rounds.py``).
"""
import numpy as np
from numba import njit

from scratchrnn.kernels.products import matmul_add

from rounds import alternate, header, paired   # this folder's

# (K, M): h W_hhᵀ forward and da W_hh back, for the LSTM at H = 32, 64 and 128 (M or K = 4H)
SHAPES = [(32, 128), (128, 32), (64, 256), (256, 64), (128, 512), (512, 128)]
T, ROUNDS = 128, 9


@njit(error_model="numpy", fastmath={"contract"})   # as the package's products compile (FMAs), uncached
def add_one_row_indexed(out, a, b):
    """out += a[0] @ b, four rows of b at a time, as ``_add_one_row`` sums, b indexed in place."""
    K, M = b.shape
    k = 0
    while k + 4 <= K:
        a0, a1, a2, a3 = a[0, k], a[0, k + 1], a[0, k + 2], a[0, k + 3]
        for j in range(M):
            out[j] += a0 * b[k, j] + a1 * b[k + 1, j] + a2 * b[k + 2, j] + a3 * b[k + 3, j]
        k += 4
    for k in range(k, K):
        a_k = a[0, k]
        for j in range(M):
            out[j] += a_k * b[k, j]


@njit
def steps_package(A, b, C, reps):
    s = 0.0
    for _ in range(reps):
        for t in range(A.shape[0]):
            s += matmul_add(C[t], A[t], b, 0)[0, 0]
    return s


@njit
def steps_indexed(A, b, C, reps):
    s = 0.0
    for _ in range(reps):
        for t in range(A.shape[0]):
            out = C[t].copy()
            add_one_row_indexed(out[0], A[t], b)
            s += out[0, 0]
    return s


@njit
def steps_kept(A, b, C, reps, out):
    s = 0.0
    for _ in range(reps):
        for t in range(A.shape[0]):
            out[:] = C[t, 0]
            add_one_row_indexed(out, A[t], b)
            s += out[0]
    return s


def main():
    print(header())
    print(f"float32, one row; T = {T} steps in a compiled loop; {ROUNDS} rounds, the three in turn; ns a step: "
          "median over the rounds; x/package: median over the rounds of the ratio within a round (least – largest)")
    rng = np.random.default_rng(0)
    for K, M in SHAPES:
        A = rng.standard_normal((T, 1, K)).astype(np.float32)
        C = rng.standard_normal((T, 1, M)).astype(np.float32)
        b = rng.standard_normal((K, M)).astype(np.float32)
        out = np.empty(M, np.float32)
        reps = max(1, 2_000_000 // (K * M))
        for t in range(T):                           # the same bits, step by step
            want = matmul_add(C[t], A[t], b, 0)
            out[:] = C[t, 0]
            add_one_row_indexed(out, A[t], b)
            assert np.array_equal(want[0], out), (K, M, t)
        assert steps_package(A, b, C, 1) == steps_indexed(A, b, C, 1) == steps_kept(A, b, C, 1, out)
        times = alternate({"package": lambda: steps_package(A, b, C, reps),
                           "indexed": lambda: steps_indexed(A, b, C, reps),
                           "kept": lambda: steps_kept(A, b, C, reps, out)}, ROUNDS)
        ns = {k: f"{np.median(v) / reps / T * 1e9:.0f}" for k, v in times.items()}
        print(f"{K} x {M}: package {ns['package']} ns, indexed {ns['indexed']}, kept {ns['kept']}; "
              f"indexed/package {paired(times, 'indexed', 'package')}, kept/package {paired(times, 'kept', 'package')}",
              flush=True)


if __name__ == "__main__":
    main()
