"""The float32 gate functions' cost per value at fixed inputs, saturated ones among them, and on
inputs drawn from N(0, 3).

    python benchmarks/results/xeon-avx512-2026-12-07-tried/gate_inputs.py

``kernels.gates.sigmoid`` and ``tanh`` (float32, as the time loops call them) over 65,536 copies
of one input, in a compiled loop; the fastest of 7 repeats of 20 passes, in ns per value; the
inputs in the order listed, -1 again at the end. sigmoid(-95) is subnormal (5.5e-42); tanh(-95)
is -1, sigmoid(-200) and sigmoid(-1000) are 0. Then 16,384 values from N(0, 3) (seeded), the
fastest of 15 repeats of 200 passes: the common case.
"""
import time

import numpy as np

from numba import njit

from scratchrnn.kernels.gates import sigmoid, tanh

from rounds import header   # this folder's

INPUTS = (-1.0, -50.0, -95.0, -200.0, -1000.0, 1000.0, -1.0)


@njit(error_model="numpy")   # not cached: see README.md
def sigmoid_all(x, out):
    for i in range(x.size):
        out[i] = sigmoid(x[i], True)


@njit(error_model="numpy")
def tanh_all(x, out):
    for i in range(x.size):
        out[i] = tanh(x[i], True)


def ns_per_value(f, x, out, repeats, passes):
    """``f(x, out)`` once untimed, then the fastest of ``repeats`` runs of ``passes`` calls, in ns a value."""
    f(x, out)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(passes):
            f(x, out)
        best = min(best, (time.perf_counter() - t) / passes / x.size)
    return 1e9 * best


GATES = ((sigmoid_all, "sigmoid"), (tanh_all, "tanh"))


def main():
    print(header())
    out = np.empty(1 << 16, np.float32)
    cells = [f"{name}({v:g}) {ns_per_value(f, np.full(out.size, v, np.float32), out, 7, 20):.2f}"
             for v in INPUTS for f, name in GATES]
    print("ns per value: " + ", ".join(cells))
    x = np.random.default_rng(0).normal(0, 3, 1 << 14).astype(np.float32)
    cells = [f"{name} {ns_per_value(f, x, out[:x.size], 15, 200):.3f}" for f, name in GATES]
    print("ns per value on N(0, 3): " + ", ".join(cells))


if __name__ == "__main__":
    main()
