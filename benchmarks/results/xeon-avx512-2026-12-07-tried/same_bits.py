"""The float32 gate functions of the package against those of another commit, over every float32 input.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/same_bits.py 5526403

``kernels.gates`` as the package has it, against ``scratchrnn/kernels/gates.py`` of the commit
given (``git show``, loaded as a module of its own): ``exp_nonpositive`` of every non-positive
float32 (each pattern with its sign bit set, NaN included), ``sigmoid`` and ``tanh`` of every
float32, all 2³² bit patterns, compiled. Prints how many results differ (two NaNs count as the
same) and the seconds each took, its compilation included; the first few differences if any.
"""
import importlib.util
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from numba import njit

from scratchrnn.kernels import gates

from rounds import header   # this folder's

CHUNK = 1 << 26


def load_gates(commit):
    """``kernels/gates.py`` of ``commit`` as a module (its file in a temporary folder)."""
    root = pathlib.Path(__file__).resolve().parents[3]
    source = subprocess.run(["git", "-C", str(root), "show", f"{commit}:scratchrnn/kernels/gates.py"],
                            check=True, capture_output=True, text=True).stdout
    path = pathlib.Path(tempfile.mkdtemp()) / f"gates_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mapper(g):
    """A compiled function: exp of -|x| (NaN kept), sigmoid and tanh of x, for x from bit patterns."""
    exp, sigmoid, tanh = g.exp_nonpositive, g.sigmoid, g.tanh

    @njit(error_model="numpy")   # not cached: see README.md
    def run(bits, out_exp, out_sigmoid, out_tanh):
        x = bits.view(np.float32)
        for i in range(x.size):
            v = x[i]
            out_exp[i] = exp(-abs(v))
            out_sigmoid[i] = sigmoid(v, True)
            out_tanh[i] = tanh(v, True)
    return run


def main(commit):
    print(header())
    ways = {"package": mapper(gates), commit: mapper(load_gates(commit))}
    outs = {name: [np.empty(CHUNK, np.float32) for _ in range(3)] for name in ways}
    seconds = {name: 0.0 for name in ways}
    differ = {"exp": 0, "sigmoid": 0, "tanh": 0}
    for c in range((1 << 32) // CHUNK):
        bits = np.arange(c * CHUNK, (c + 1) * CHUNK, dtype=np.uint64).astype(np.uint32)
        for name, run in ways.items():
            t = time.perf_counter()
            run(bits, *outs[name])
            seconds[name] += time.perf_counter() - t
        for k, a, b in zip(differ, outs["package"], outs[commit]):
            same = (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))
            if not same.all():
                where = np.flatnonzero(~same)
                differ[k] += where.size
                print(f"{k} differs at {bits[where[:3]].view(np.float32)}: {a[where[:3]]} against {b[where[:3]]}")
    print(f"results that differ over all 2**32 inputs: {differ}; seconds: "
          + ", ".join(f"{name} {s:.1f}" for name, s in seconds.items()))


if __name__ == "__main__":
    main(sys.argv[1])
