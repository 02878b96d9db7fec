"""One sequence's LSTM forward time loop on both cores, each step: each thread computes half of
the hidden units (its rows of all four gate blocks of W_hh), and the two threads meet once per
step, against the same loop on one thread.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/both_cores.py

The loop only: T = 128 steps of one sequence at H = 128, float32, x W_ihᵀ + b given. Each step,
for each half of the units: ``a = xw_t + h_{t-1} W_hhᵀ`` over that half's 4 · H/2 rows, by the
package's one-row product (``kernels.products._add_one_row``, what a serial pass at N = 1 runs
at this size), then the package's sigmoid and tanh (``kernels.gates``) and the cell for those
units. "one thread": both halves in turn, no waiting. "two threads": one half per thread of a
parallel region (two iterations of ``prange``); after its half of h_t, a thread stores its step
count (an atomic store, release) and spins until the other's count has reached it (atomic loads,
acquire) before it reads h_t. The two give the same bits (checked), and the largest difference
of h_T from a float64 LSTM's is printed. 9 rounds of 5 calls each, the two in turn
(``rounds.py``). Run it with the package installed, as the folder's other scripts.
"""
import numba
import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.core.extending import intrinsic

from scratchrnn.kernels.gates import is_single, sigmoid, tanh
from scratchrnn.kernels.products import _add_one_row

from rounds import alternate, header, paired   # this folder's

T, H, ROUNDS = 128, 128, 9
HALF = H // 2
ORDER = [0, 1, 3, 2]   # torch's gate blocks i, f, g, o taken as i, f, o, g: the three sigmoids first
STRIDE = 16            # the two counters 128 bytes apart: not on one cache line


@intrinsic
def load_acquire(typingctx, arr, idx):
    """arr[idx] (int64) read as an atomic load with acquire ordering."""
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
        return builder.load_atomic(ptr, ordering="acquire", align=8)
    return types.int64(arr, idx), codegen


@intrinsic
def store_release(typingctx, arr, idx, val):
    """arr[idx] = val (int64) as an atomic store with release ordering."""
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
        builder.store_atomic(args[2], ptr, ordering="release", align=8)
        return context.get_dummy_value()
    return types.void(arr, idx, val), codegen


@njit(error_model="numpy")
def half_step(w_t, xw_t, h_prev, a, g, c_prev, c_new, h_new):
    """One half's step: a = xw_t + h_prev w_t (w_t: (H, 2H), its rows transposed), then
    i, f, o = σ(a), g = tanh(a), c_new = f c_prev + i g, h_new = o tanh(c_new); ``g`` scratch."""
    n = c_new.size
    single = is_single(a)
    a[:] = xw_t
    _add_one_row(a.reshape(1, a.size), h_prev.reshape(1, h_prev.size), w_t, 0)
    for r in range(3 * n):
        g[r] = sigmoid(a[r], single)
    for r in range(3 * n, 4 * n):
        g[r] = tanh(a[r], single)
    for j in range(n):
        c_new[j] = g[n + j] * c_prev[j] + g[j] * g[3 * n + j]
    for j in range(n):
        h_new[j] = g[2 * n + j] * tanh(c_new[j], single)


@njit(error_model="numpy")
def one_thread(w_t, xw, h, c, a, g):
    for t in range(xw.shape[0]):
        for k in range(2):
            u = slice(k * HALF, (k + 1) * HALF)
            half_step(w_t[k], xw[t, k], h[t], a[k], g[k], c[t, u], c[t + 1, u], h[t + 1, u])


@njit(error_model="numpy", parallel=True)
def two_threads(w_t, xw, h, c, a, g, counts, spins):
    for k in prange(2):
        u0, u1 = k * HALF, (k + 1) * HALF
        n = 0
        for t in range(xw.shape[0]):
            half_step(w_t[k], xw[t, k], h[t], a[k], g[k], c[t, u0:u1], c[t + 1, u0:u1], h[t + 1, u0:u1])
            store_release(counts, k * STRIDE, t + 1)
            while load_acquire(counts, (1 - k) * STRIDE) < t + 1:
                n += 1
        spins[k] = n


def float64_lstm(w_hh, xw):
    h, c = np.zeros(H), np.zeros(H)
    w = w_hh.astype(np.float64)
    for t in range(xw.shape[0]):
        a = xw[t] + w @ h
        i, f, o = (1 / (1 + np.exp(-a[b * H:(b + 1) * H])) for b in (0, 1, 3))
        c = f * c + i * np.tanh(a[2 * H:3 * H])
        h = o * np.tanh(c)
    return h


def main():
    if numba.get_num_threads() < 2:
        raise SystemExit("both_cores.py needs 2 Numba threads: with one, its two-thread loop would wait forever")
    print(header())
    rng = np.random.default_rng(0)
    w_hh = (rng.standard_normal((4 * H, H)) / np.sqrt(H)).astype(np.float32)    # torch's (4H, H)
    xw_full = rng.standard_normal((T, 4 * H)).astype(np.float32)
    # thread k's rows: gate blocks i, f, o, g of units k·H/2 … (k+1)·H/2, transposed: (2, H, 2H)
    w_t = np.ascontiguousarray(w_hh.reshape(4, 2, HALF, H)[ORDER].transpose(1, 0, 2, 3)
                               .reshape(2, 2 * H, H).transpose(0, 2, 1))
    xw = np.ascontiguousarray(xw_full.reshape(T, 4, 2, HALF)[:, ORDER].transpose(0, 2, 1, 3).reshape(T, 2, 2 * H))
    arrays = {way: (np.zeros((T + 1, H), np.float32), np.zeros((T + 1, H), np.float32),
                    np.zeros((2, 2 * H), np.float32), np.zeros((2, 2 * H), np.float32)) for way in ("one", "two")}
    counts, spins, spin_counts = np.zeros(2 * STRIDE, np.int64), np.zeros(2, np.int64), []

    def one():
        one_thread(w_t, xw, *arrays["one"])

    def two():
        counts[:] = 0
        two_threads(w_t, xw, *arrays["two"], counts, spins)
        spin_counts.append(int(spins.sum()))

    one()
    two()
    assert np.array_equal(arrays["one"][0], arrays["two"][0]), "the two ways differ"
    err = np.abs(arrays["one"][0][T] - float64_lstm(w_hh, xw_full)).max()
    print(f"LSTM forward loop, T = {T}, N = 1, H = {H}, float32: the two ways the same bits, h_T within "
          f"{err:.1e} of float64; {ROUNDS} rounds, the two in turn; µs a call: median over the rounds; "
          "two/one: median over the rounds of the ratio within a round (least – largest)")
    times = alternate({"one thread": one, "two threads": two}, ROUNDS)
    us = {k: np.round(np.array(v) * 1e6).astype(int).tolist() for k, v in times.items()}
    print(f"one thread {np.median(times['one thread']) * 1e6:.0f} µs (rounds {us['one thread']}), two threads "
          f"{np.median(times['two threads']) * 1e6:.0f} µs (rounds {us['two threads']}); "
          f"two/one {paired(times, 'two threads', 'one thread')}")
    print(f"spins while waiting, both threads, per call: median {int(np.median(spin_counts))}, "
          f"largest {max(spin_counts)}")


if __name__ == "__main__":
    main()
