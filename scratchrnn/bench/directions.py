"""The two directions of a bidirectional layer: one after the other, or side by side.

    python -m scratchrnn.bench.directions [--models rnn lstm gru] [--T 32 128] [--N 1 4]
        [--H 32 128 512] [--out benchmarks/results/MACHINE/directions_cpu.md]

Where a layer's passes run serial (``scratchrnn.layout.blocks`` is 1: one sequence, few, or
little work), a bidirectional layer can still use two cores: each direction runs its passes
on a thread of its own (``scratchrnn.kernels.team.side_by_side``). This times a one-layer
bidirectional model's forward+backward (float32, I = H) both ways at every such point, in
interleaved guarded samples (``scratchrnn.bench.measure``), checks that both ways give the
same output and input gradient up to rounding (``AGREE``), and prints a Markdown table with the
time side by side over the time one after the other, their largest difference, and what
``scratchrnn.layout.directions_side_by_side`` picks there. Points whose passes run in row blocks are listed as such and not timed.
"""

# -- configuration -----------------------------------------------------------
MODELS = ("rnn", "lstm", "gru")
LENGTHS = (32, 128)                  # T
BATCHES = (1, 4)                     # N
HIDDEN = (32, 128, 512)              # H = I
SEED = 0
# The two ways must agree to this much of their largest value. Side by side, BLAS runs on one
# thread and may sum a GEMM's products in another order: float32 rounding, carried through the
# recurrence (up to about 1e-6 seen); a direction run wrong gives differences of order 1.
AGREE = 1e-4
# -----------------------------------------------------------------------------

import numpy as np

from scratchrnn import layout, registry
from scratchrnn.bench import ways

WAYS = ("one_after_other", "side_by_side")


# The models run their directions ``name``'s way inside ``_way(name)``: the rule's threshold 0
# for side by side, infinity for one after the other.
_way = ways.threshold_way(layout, ("DIRECTIONS_MIN_WORK",), "side_by_side")


def measure_point(model, T, N, H, settings):
    """One row: the point, whether it runs serial, and per way the timing summary."""
    m = registry.model_class(model)(H, H, bidirectional=True, dtype="float32", seed=SEED)
    w_hh = dict(m.named_parameters())["weight_hh_l0"]
    row = {"model": model, "T": T, "N": N, "H": H, "work": T * N * w_hh.shape[1] * w_hh.shape[0],
           "serial": layout.blocks(T, N, w_hh) == 1,
           "rule": layout.directions_side_by_side(T, N, w_hh)}
    if not row["serial"]:
        return row
    rng = np.random.default_rng(SEED + 1)
    x = rng.standard_normal((T, N, H)).astype(np.float32)              # (T, N, I)
    d_out = rng.standard_normal((T, N, 2 * H)).astype(np.float32)      # (T, N, 2H)
    return ways.time_both(row, m, x, d_out, _way, WAYS, AGREE, settings)


def to_markdown(rows, machine):
    lines = ["# Bidirectional layers: the directions one after the other or side by side", "",
             f"Measured on {machine}. `python -m scratchrnn.bench.directions`: one layer, float32, "
             "I = H, forward+backward of the module; medians of interleaved guarded samples; "
             "ratio = side by side over one after the other (below 1: side by side is faster); "
             "work = T·N·P·G·H, the multiply-adds of all steps' products in one pass; rule: what "
             f"`layout.directions_side_by_side` picks (side by side from {layout.DIRECTIONS_MIN_WORK:,}); ",
             "largest difference: between the two ways' output and dx, over their largest value.",
             "", "| model | T | N | H | work | one after the other ms | side by side ms | ratio | "
             "largest difference | rule |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['model']} | {r['T']} | {r['N']} | {r['H']} | {r['work']:,} |"
        if not r["serial"]:
            lines.append(head + " passes in row blocks | | | | |")
            continue
        a, b = r["one_after_other"], r["side_by_side"]
        lines.append(head + f" {ways.cell(a)} | {ways.cell(b)} | {r['ratio']:.2f} | {r['max_diff']:.2g} | "
                     + ("side by side" if r["rule"] else "one after the other") + " |")
    lines += ["", ways.FLAG_NOTE]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ways.main(argv, __doc__, {"models": MODELS, "T": LENGTHS, "N": BATCHES, "H": HIDDEN}, measure_point,
              to_markdown, "row blocks")


if __name__ == "__main__":
    main()
