"""One-hot input: W_ih's columns looked up and dW_ih summed from rows, against the GEMMs.

    python -m scratchrnn.bench.one_hot [--models rnn lstm gru] [--T 35] [--N 32] [--H 256]
        [--out benchmarks/results/MACHINE/one_hot_cpu.md]

Where every row of a layer's input is one-hot (or zero), its passes look the input projection
up in W_ih's columns and sum dW_ih from rows of da (``scratchrnn.kernels.one_hot``) instead
of multiplying by the zeros. This times a one-layer model's forward+backward (float32, no input
gradient, as a first layer trains) on one-hot input over ``VOCAB`` classes, and on the same
input times 1 + 2⁻²³, whose rows are not one-hot, so the passes take their GEMMs (the work they
did before the look-up), in interleaved guarded samples (``scratchrnn.bench.measure``); checks
that the two outputs agree (``AGREE``) and prints a Markdown table with the one-hot time over
the GEMMs'. The defaults are the character model's step (``scratchrnn train charlm``: T = 35,
a batch of 32, H = 256, the 1027 characters of the lyrics).
"""

# -- configuration -----------------------------------------------------------
MODELS = ("rnn", "lstm", "gru")
LENGTHS = (35,)                      # T
BATCHES = (32,)                      # N
HIDDEN = (256,)                      # H
VOCAB = 1027                         # I: the classes of the one-hot input
SEED = 0
# The GEMMs' input is 1 + 2⁻²³ where the one-hot input is 1: the outputs differ by about that
# much of their size, carried through T steps; a column looked up wrong differs by order 1.
AGREE = 1e-5
# -----------------------------------------------------------------------------

import numpy as np

from scratchrnn import layout, one_hot, registry
from scratchrnn.bench import impls, timing, ways

WAYS = ("GEMMs", "one-hot")


def _impl(name, m, x, d_out):
    """m's forward+backward on x without the input gradient, as an Impl whose output is out."""
    def call():
        out, _ = m(x)
        m.backward(d_out, input_grad=False)             # grads accumulate, as in the grid
        return out.ravel()
    return impls.Impl(name, "cpu", call, timing.wall_timer, np.asarray)


def measure_point(model, T, N, H, settings):
    """One row: the point, the row blocks, and per way the timing summary and the ratio."""
    m = registry.model_class(model)(VOCAB, H, dtype="float32", seed=SEED)
    rng = np.random.default_rng(SEED + 1)
    x = one_hot(rng.integers(0, VOCAB, (T, N)), VOCAB, dtype=np.float32)   # (T, N, VOCAB)
    d_out = rng.standard_normal((T, N, H)).astype(np.float32)
    row = {"model": model, "T": T, "N": N, "H": H, "I": VOCAB,
           "blocks": layout.blocks(T, N, dict(m.named_parameters())["weight_hh_l0"])}
    gemms_x = x * np.float32(1 + 2.0 ** -23)
    built = {WAYS[0]: _impl(WAYS[0], m, gemms_x, d_out), WAYS[1]: _impl(WAYS[1], m, x, d_out)}
    return ways.time_impls(row, built, WAYS, AGREE, settings)


def to_markdown(rows, machine):
    lines = ["# One-hot input: looked up, or GEMMs", "",
             f"Measured on {machine}. `python -m scratchrnn.bench.one_hot`: one layer, float32, "
             f"one-hot input over I = {VOCAB} classes, forward+backward of the module without the "
             "input gradient; medians of interleaved guarded samples; GEMMs: the same input times "
             "1 + 2⁻²³, not one-hot; ratio = one-hot over GEMMs (below 1: the look-up is faster).", "",
             "| model | T | N | H | I | row blocks | GEMMs ms | one-hot ms | ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['T']} | {r['N']} | {r['H']} | {r['I']} | {r['blocks']} | "
                     f"{ways.cell(r[WAYS[0]])} | {ways.cell(r[WAYS[1]])} | {r['ratio']:.3f} |")
    lines += ["", ways.FLAG_NOTE]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ways.main(argv, __doc__, {"models": MODELS, "T": LENGTHS, "N": BATCHES, "H": HIDDEN}, measure_point,
              to_markdown, "")


if __name__ == "__main__":
    main()
