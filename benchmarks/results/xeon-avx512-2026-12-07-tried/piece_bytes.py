"""The backward's gradient GEMMs in pieces of rows sized for the Zen 4's 1 MiB L2 (the package's
rule) or for this Xeon's 2 MiB.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/piece_bytes.py

Where da is big, a backward runs its three gradient GEMMs on a piece of rows at a time, still in
the core's cache for the second and third (``scratchrnn.layout.gradient_pieces``): pieces of
``PIECE_ROWS`` = 256 rows, fewer where 256 rows of da take more than ``PIECE_MAX_BYTES`` = 512 KiB
(down to 128), none where even those take more. "bigger": 512 rows and 1 MiB, so that the LSTM
at H = 512 takes pieces of 128 rows where it now takes none. A module's forward+backward,
float32, I = H, the constants set for each call; 7 rounds of 5 calls each, the two in turn
(``rounds.py``).
"""
import numpy as np

from scratchrnn import layout, registry

from rounds import alternate, header, paired   # this folder's

POINTS = [("lstm", 128, 256, 128), ("lstm", 128, 64, 512), ("lstm", 32, 256, 512), ("gru", 128, 256, 128),
          ("rnn", 128, 256, 128)]   # (model, T, N, H) whose pieces differ
WAYS = {"rule": (256, 512 << 10), "bigger": (512, 1 << 20)}   # (PIECE_ROWS, PIECE_MAX_BYTES)
ROUNDS, CALLS = 7, 5
# The two ways' outputs and input gradients agree to this much of their largest value: only the
# order in which the LSTM's weight gradients are summed differs, and dx does not depend on it.
AGREE = 1e-6


def set_way(name):
    layout.PIECE_ROWS, layout.PIECE_MAX_BYTES = WAYS[name]


def main():
    print(header())
    print(f"float32, I = H, forward+backward of the module; {ROUNDS} rounds of {CALLS} calls, the two in turn; "
          "ms: median over the rounds; bigger/rule: median over the rounds of the ratio within a round "
          "(least – largest)")
    for model, T, N, H in POINTS:
        m = registry.model_class(model)(H, H, dtype="float32", seed=0)
        p = dict(m.named_parameters())
        nblocks = layout.blocks(T, N, p["weight_hh_l0"])
        pieces = {}
        for name in WAYS:
            set_way(name)
            pieces[name] = layout.gradient_pieces(T, N, nblocks, model != "lstm", p["weight_ih_l0"],
                                                  p["weight_hh_l0"])[1]
        rng = np.random.default_rng(1)
        x = rng.standard_normal((T, N, H)).astype(np.float32)
        d = rng.standard_normal((T, N, H)).astype(np.float32)
        results = {}

        def call(name):
            def f():
                set_way(name)
                out, _ = m(x)
                dx, _ = m.backward(d)
                results[name] = np.concatenate([out.ravel(), dx.ravel()])
            return f
        times = alternate({name: call(name) for name in WAYS}, ROUNDS, CALLS)
        set_way("rule")
        diff = np.abs(results["bigger"] - results["rule"]).max() / np.abs(results["rule"]).max()
        assert diff <= AGREE, f"{model} T={T} N={N} H={H}: the ways differ by {diff:.2g}"
        ms = {k: f"{np.median(v) * 1e3:.2f}" for k, v in times.items()}
        print(f"{model} T={T} N={N} H={H} ({nblocks} row blocks; rows a piece: rule {pieces['rule']}, bigger "
              f"{pieces['bigger']}; {T * N} rows: none): rule {ms['rule']} ms, bigger {ms['bigger']}; "
              f"bigger/rule {paired(times, 'bigger', 'rule')}", flush=True)


if __name__ == "__main__":
    main()
