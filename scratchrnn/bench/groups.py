"""The weight gradients of the small-matrix pieces with all of da's columns, or in groups of them.

    python -m scratchrnn.bench.groups [--models rnn lstm gru] [--T 32 128] [--N 16 64]
        [--H 128 256] [--out benchmarks/results/MACHINE/groups_cpu.md]

Where BLAS has small-matrix kernels, a backward's gradient GEMMs walk pieces of as many rows as
those kernels take (``scratchrnn.layout.gradient_pieces``). Where too few rows fit with all G·H
columns of da, each weight gradient's GEMM can take half of the columns, a quarter …, with more
rows. This times a one-layer model's forward+backward (float32, I = H) with groups of columns as
narrow as they need to be (the rule's narrowest, ``MIN_SMALL_PIECE_COLS``, set to 0) and without
any (set to infinity: the pieces with all columns where they fit, else those for the caches or
none), in interleaved guarded samples (``scratchrnn.bench.measure``), checks that both give the
same output and input gradient, and prints a Markdown table with the time in groups over the time
without, and what the rule picks there.
"""

# -- configuration -----------------------------------------------------------
MODELS = ("rnn", "lstm", "gru")
LENGTHS = (32, 128)                  # T
BATCHES = (16, 64)                   # N
HIDDEN = (128, 256)                  # H = I
# -----------------------------------------------------------------------------

from scratchrnn import layout
from scratchrnn.bench import pieces, ways

WAYS = ("all columns", "groups")

# The backward passes inside ``_way(name)`` take their weight gradients ``name``'s way.
_way = ways.threshold_way(layout, ("MIN_SMALL_PIECE_COLS",), "groups")


def measure_point(model, T, N, H, settings):
    """One row: the point, the pieces in groups (chunk rows, piece rows, piece columns), and per
    way the timing summary where the two differ."""
    return pieces.measure_ways(model, T, N, H, settings, _way, WAYS)


def to_markdown(rows, machine):
    lines = ["# The small-matrix pieces' weight gradients: all columns of da, or in groups", "",
             f"Measured on {machine}. `python -m scratchrnn.bench.groups`: one layer, float32, I = H, "
             "forward+backward of the module; medians of interleaved guarded samples; ratio = in "
             "groups over all columns (below 1: groups are faster); pieces: the rows and columns of a "
             "piece with groups as narrow as they need to be; rule: what `layout.gradient_pieces` "
             f"picks (groups of at least {layout.MIN_SMALL_PIECE_COLS} columns).", "",
             "| model | T | N | H | row blocks | pieces | all columns ms | groups ms | ratio | rule |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['model']} | {r['T']} | {r['N']} | {r['H']} | {r['blocks']} |"
        if "ratio" not in r:
            lines.append(head + " no groups | | | | all columns |")
            continue
        _, piece_rows, piece_cols = r["pieces"]
        rule = "groups" if r["rule"] else "all columns"
        lines.append(head + f" {piece_rows} × {piece_cols} | {ways.cell(r[WAYS[0]])} | "
                     f"{ways.cell(r[WAYS[1]])} | {r['ratio']:.3f} | {rule} |")
    lines += ["", ways.FLAG_NOTE]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ways.main(argv, __doc__, {"models": MODELS, "T": LENGTHS, "N": BATCHES, "H": HIDDEN}, measure_point,
              to_markdown, "no groups")


if __name__ == "__main__":
    main()
