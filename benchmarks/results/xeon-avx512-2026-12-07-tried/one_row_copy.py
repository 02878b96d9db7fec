"""One sequence's LSTM at H = 1024 (W_hh 16 MiB, tall): the backward's per-step product from the
copy of W_hhᵀ made once per pass (``layout.backward_weights``, as the package does up to
``ONE_ROW_COPY_TALL_MAX`` = 16 MiB) against from W_hh itself, and the copy alone.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/one_row_copy.py

A module's forward+backward, float32, T = 128, N = 1, I = H = 1024; "no copy" sets
``ONE_ROW_COPY_TALL_MAX`` to 6 MiB for its calls (restored after). The two products sum in
different orders, so the gradients differ in their last bits; the input gradient dx is checked to
agree within 1e-4 of its largest value. 9 rounds of 5 calls each, the two in turn
(``rounds.py``). Run it with the package installed, as the folder's other scripts.
"""
import time

import numpy as np

from scratchrnn import kernels, layout
from scratchrnn.modules import LSTM

from rounds import alternate, header, paired   # this folder's

T, N, H, ROUNDS = 128, 1, 1024, 9
NO_COPY_MAX = 6 << 20


def main():
    print(header())
    m = LSTM(H, H, dtype=np.float32, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, N, H)).astype(np.float32)
    d = rng.standard_normal((T, N, H)).astype(np.float32)
    w = m.state_dict()["weight_hh_l0"]
    copy = np.empty(w.T.shape, np.float32)
    kernels.transpose_into(w, copy)
    taken = []
    for _ in range(21):
        t = time.perf_counter()
        kernels.transpose_into(w, copy)
        taken.append(time.perf_counter() - t)
    print(f"LSTM T = {T}, N = {N}, H = {H}, float32: W_hh {w.nbytes >> 20} MiB; its transposed copy alone "
          f"{np.median(taken) * 1e3:.2f} ms (median of 21; least {min(taken) * 1e3:.2f})")
    limit = layout.ONE_ROW_COPY_TALL_MAX

    def call(tall_max):
        layout.ONE_ROW_COPY_TALL_MAX = tall_max
        try:
            m.zero_grad()
            m(x)
            dx, _ = m.backward(d)
        finally:
            layout.ONE_ROW_COPY_TALL_MAX = limit
        return dx

    with_copy, without = call(limit), call(NO_COPY_MAX)
    assert np.abs(with_copy - without).max() <= 1e-4 * np.abs(with_copy).max()
    times = alternate({"copy": lambda: call(limit), "no copy": lambda: call(NO_COPY_MAX)}, ROUNDS)
    ms = {k: np.round(np.array(v) * 1e3, 1).tolist() for k, v in times.items()}
    print(f"forward+backward, {ROUNDS} rounds, the two in turn: copy {np.median(times['copy']) * 1e3:.1f} ms "
          f"(rounds {ms['copy']}), no copy {np.median(times['no copy']) * 1e3:.1f} ms (rounds {ms['no copy']}); "
          f"no copy/copy {paired(times, 'no copy', 'copy')} (median over the rounds of the ratio within a round, "
          "least – largest)")


if __name__ == "__main__":
    main()
