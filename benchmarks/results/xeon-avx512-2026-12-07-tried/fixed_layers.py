"""Where a module call's fixed cost goes: the LSTM's forward+backward at T = N = H = I = 1 through
the module, through ``scratchrnn.functional`` with its checks and without them, and the two
compiled passes alone, called with the arguments the functional layer gave them.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/fixed_layers.py

float32, one layer, each with a workspace kept from call to call as the module keeps one.
"module": ``m(x); m.backward(d)``; "functional, checked": ``functional.lstm_forward`` and
``lstm_backward`` (their shape, dtype and NaN checks, and the check that the saved arrays are
unchanged); "functional, unchecked": the same with ``checked=True`` (what the module calls, having
checked the arguments itself); "passes": ``kernels.passes.lstm_forward_pass`` and
``lstm_backward_pass`` called from Python with those arguments (Numba's dispatch of 15 and 35
arguments, and the compiled work of one step). Each timed call is 200 of these; in each of 9
rounds the four take turns, each called once untimed and 5 times timed (``rounds.py``, which keeps
the median of the 5). Run it with the package installed, as the folder's other scripts.
"""
import numpy as np

from scratchrnn import functional as F
from scratchrnn.kernels import team
from scratchrnn.modules import LSTM
from scratchrnn.workspace import Workspace

from rounds import alternate, header, paired   # this folder's

ROUNDS, REPEAT = 9, 200


def passes_args(m, x, d):
    """The compiled passes and the arguments ``functional._run`` gives them in one module call."""
    calls, run = [], F._run

    def record(serial, blocked, nblocks, loop_nblocks, *args):
        calls.append((serial, args + (team.small_matrix_limit(),)))
        return run(serial, blocked, nblocks, loop_nblocks, *args)

    F._run = record
    try:
        m(x)
        m.backward(d)
    finally:
        F._run = run
    return calls


def main():
    print(header())
    m = LSTM(1, 1, dtype=np.float32, seed=0)
    x, d = np.ones((1, 1, 1), np.float32), np.ones((1, 1, 1), np.float32)
    h0, c0 = np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32)
    sd = m.state_dict()
    weights = (sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"])
    ws = Workspace()
    (forward, forward_args), (backward, backward_args) = passes_args(m, x, d)

    def repeat(call):
        return lambda: [call() for _ in range(REPEAT)]

    def module():
        m(x)
        m.backward(d)

    def functional(checked):
        def call():
            cache = F.lstm_forward(x, h0, c0, *weights, workspace=ws, checked=checked)[3]
            F.lstm_backward(d, h0, c0, cache, checked=checked)
        return call

    def passes():
        forward(*forward_args)
        backward(*backward_args)

    variants = {"module": module, "functional, checked": functional(False),
                "functional, unchecked": functional(True), "passes": passes}
    times = alternate({k: repeat(v) for k, v in variants.items()}, ROUNDS)
    print(f"LSTM, T = N = H = I = 1, float32, forward+backward; {ROUNDS} rounds, the four in turn; µs a "
          "call: median over the rounds (least – largest); x/module: median over the rounds of the ratio "
          "within a round")
    for name in variants:
        us = np.array(times[name]) / REPEAT * 1e6
        share = "" if name == "module" else f"; x/module {paired(times, name, 'module')}"
        print(f"{name}: {np.median(us):.1f} µs ({us.min():.1f} – {us.max():.1f}){share}")


if __name__ == "__main__":
    main()
