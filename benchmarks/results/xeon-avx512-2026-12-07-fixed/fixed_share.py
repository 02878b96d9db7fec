"""What of a small call's time its safety checks take: the LSTM's forward+backward at T=32 N=1
H=32 (float32, I = H, the grid's smallest LSTM point after T = N = H = 1) through the module as
it is, with the in-place check's stamps left out, with those and the input checks left out, and
the two compiled passes alone; torch CPU's ``nn.LSTM`` alongside, as the grid times it.

    python benchmarks/results/xeon-avx512-2026-12-07-fixed/fixed_share.py

"module": ``m(x); m.backward(d)`` (``scratchrnn.bench.impls.scratch_impl``); "no stamps": the
same with ``checks.fingerprints`` returning no stamps and ``functional.check_unchanged`` doing
nothing (the fingerprints the forward takes of the arrays it saves, and the check before the
backward that they are unchanged); "no stamps, no checks": also ``checks.array`` returning its
argument unlooked-at (the module's shape, dtype and NaN checks of x and of the output's
gradient); "passes": ``kernels.passes.lstm_forward_pass`` and ``lstm_backward_pass`` called from
Python with the arguments one module call gave them (as
``../xeon-avx512-2026-12-07-tried/fixed_layers.py``; one row block at this point, so the serial
passes); "torch": ``torch.nn.LSTM`` with the same weights (``scratchrnn.bench.impls.torch_impl``).
The left-out checks are for this measurement only: the package keeps them. Each timed call is 50 calls; in
each of 9 rounds the five take turns, each called once untimed and 5 times timed
(``../xeon-avx512-2026-12-07-tried/rounds.py``). Run it with the package and torch installed.
"""
import sys
from pathlib import Path

import numpy as np

from scratchrnn import checks
from scratchrnn import functional as F
from scratchrnn.bench import impls
from scratchrnn.bench.spec import Point
from scratchrnn.kernels import team

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header, paired   # noqa: E402  (the tried folder's)
from fixed_cost import patched   # noqa: E402  (this folder's)

ROUNDS, REPEAT = 9, 50
POINT = Point("lstm", "fwdbwd", "float32", 32, 1, 32)


def passes_args(call):
    """The compiled passes and the arguments ``functional._run`` gives them in one ``call``."""
    calls, run = [], F._run

    def record(serial, blocked, nblocks, loop_nblocks, *args):
        assert nblocks == 1, "the serial pass replays one row block only"
        calls.append((serial, args + (team.small_matrix_limit(),)))
        return run(serial, blocked, nblocks, loop_nblocks, *args)

    F._run = record
    try:
        call()
    finally:
        F._run = run
    return calls


def without(call, patches):
    """``call`` run REPEAT times with the module attributes of ``patches`` replaced, then restored."""
    return patched(call, patches, REPEAT)


def main():
    print(header())
    m, x, d_out = impls.inputs(POINT, seed=0)
    module = impls.scratch_impl(POINT, m, x, d_out).call
    torch = impls.torch_impl("torch_cpu", POINT, m.state_dict(), x, d_out).call
    (forward, forward_args), (backward, backward_args) = passes_args(module)

    def passes():
        forward(*forward_args)
        backward(*backward_args)

    no_stamps = [(checks, "fingerprints", lambda named: {}),
                 (F, "check_unchanged", lambda cache, where="backward": None)]
    no_checks = no_stamps + [(checks, "array", lambda name, a, *rest: a)]
    variants = {"module": without(module, []), "no stamps": without(module, no_stamps),
                "no stamps, no checks": without(module, no_checks),
                "passes": without(passes, []), "torch": without(torch, [])}
    times = alternate(variants, ROUNDS)
    print(f"LSTM T=32 N=1 H=32 (I = H), float32, forward+backward; {ROUNDS} rounds, the five in turn; "
          "µs a call: median over the rounds (least – largest); x/module, x/torch: median over the "
          "rounds of the ratio within a round (least – largest)")
    for name in variants:
        us = np.array(times[name]) / REPEAT * 1e6
        shares = "" if name == "module" else f"; x/module {paired(times, name, 'module')}"
        shares += "" if name == "torch" else f"; x/torch {paired(times, name, 'torch')}"
        print(f"{name}: {np.median(us):.1f} µs ({us.min():.1f} – {us.max():.1f}){shares}")


if __name__ == "__main__":
    main()
