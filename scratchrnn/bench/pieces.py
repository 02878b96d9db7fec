"""The backward's gradient GEMMs over all rows at once, or in pieces of rows.

    python -m scratchrnn.bench.pieces [--models rnn lstm gru] [--T 128] [--N 64 256]
        [--H 32 128] [--out benchmarks/results/MACHINE/pieces_cpu.md]

A backward pass takes dx, dW_ih and dW_hh from every step's ``da`` in three GEMMs, each reading
all of it; in pieces, all three run on a few hundred rows at a time, still in the core's cache,
or on as many rows as BLAS's small-matrix kernels take (``scratchrnn.layout.gradient_pieces``).
This times a one-layer model's forward+backward (float32, I = H) both ways at every point, in
interleaved guarded samples (``scratchrnn.bench.measure``), checks that both give the same
output and input gradient (``AGREE``), and prints a Markdown table with the time in pieces over
the time without, and what the rule picks there.
"""

# -- configuration -----------------------------------------------------------
MODELS = ("rnn", "lstm", "gru")
LENGTHS = (128,)                     # T
BATCHES = (32, 64, 256)              # N
HIDDEN = (32, 128)                   # H = I
SEED = 0
# The two ways must agree to this much of their largest value: the RNN's and GRU's sums are the
# same, the LSTM's weight gradients are summed in another order (rounding), and dx and the output
# do not depend on it; a piece run wrong gives differences of order 1.
AGREE = 1e-6
# -----------------------------------------------------------------------------

import functools

import numpy as np

from scratchrnn import layout, registry
from scratchrnn.bench import ways

WAYS = ("whole", "pieces")


# The backward passes inside ``_way(name)`` walk their rows ``name``'s way: both rules' thresholds
# (the byte limit, and the fewest rows of the pieces for BLAS's small-matrix kernels) 0 for pieces,
# infinity for whole.
_way = ways.threshold_way(layout, ("PIECES_MIN_BYTES", "MIN_SMALL_PIECE_ROWS"), "pieces")


def measure_point(model, T, N, H, settings):
    """One row: the point, the piece rows the rule picks (T·N: none), and per way the timing summary."""
    return measure_ways(model, T, N, H, settings, _way, WAYS)


def measure_ways(model, T, N, H, settings, way, names):
    """One row of a one-layer model's forward+backward timed the two ways ``names`` of ``way``
    (the first is the baseline): the point, row blocks, "pieces" (``layout.gradient_pieces``
    inside the second way: chunk rows, piece rows, piece columns), "piece_rows" (its piece
    rows), "rule" (whether the rule, outside both ways, picks other pieces than the first way)
    and, where the two ways' pieces differ, each way's timing summary and the ratio
    (``ways.time_both``)."""
    m = registry.model_class(model)(H, H, dtype="float32", seed=SEED)
    params = dict(m.named_parameters())
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    nblocks = layout.blocks(T, N, w_hh)
    rule = functools.partial(layout.gradient_pieces, T, N, nblocks, model != "lstm", w_ih, w_hh)
    picked = {}
    for name in names:
        with way(name):
            picked[name] = rule()
    possible = picked[names[1]]
    row = {"model": model, "T": T, "N": N, "H": H, "blocks": nblocks, "pieces": possible,
           "piece_rows": possible[1], "rule": rule() != picked[names[0]]}
    if possible == picked[names[0]]:
        return row                                       # both ways walk the same pieces: nothing to time
    rng = np.random.default_rng(SEED + 1)
    x = rng.standard_normal((T, N, H)).astype(np.float32)              # (T, N, I)
    d_out = rng.standard_normal((T, N, H)).astype(np.float32)          # (T, N, H)
    return ways.time_both(row, m, x, d_out, way, names, AGREE, settings)


def to_markdown(rows, machine):
    lines = ["# The backward's gradient GEMMs: all rows at once or in pieces", "",
             f"Measured on {machine}. `python -m scratchrnn.bench.pieces`: one layer, float32, I = H, "
             "forward+backward of the module; medians of interleaved guarded samples; ratio = in "
             "pieces over all rows at once (below 1: pieces are faster); piece rows: the rows of a "
             "piece where pieces may run; rule: what `layout.gradient_pieces` picks "
             f"(pieces from {layout.PIECES_MIN_BYTES / 2**20:g} MiB of da, x, h and dx; pieces "
             f"for BLAS's small-matrix kernels from {layout.MIN_SMALL_PIECE_ROWS} rows).", "",
             "| model | T | N | H | row blocks | piece rows | whole ms | pieces ms | ratio | rule |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['model']} | {r['T']} | {r['N']} | {r['H']} | {r['blocks']} |"
        if "ratio" not in r:
            lines.append(head + " no pieces possible | | | | whole |")
            continue
        lines.append(head + f" {r['piece_rows']} | {ways.cell(r['whole'])} | {ways.cell(r['pieces'])} | "
                     f"{r['ratio']:.3f} | {'pieces' if r['rule'] else 'whole'} |")
    lines += ["", ways.FLAG_NOTE]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ways.main(argv, __doc__, {"models": MODELS, "T": LENGTHS, "N": BATCHES, "H": HIDDEN}, measure_point,
              to_markdown, "no pieces")


if __name__ == "__main__":
    main()
