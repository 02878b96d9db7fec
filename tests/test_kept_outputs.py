"""The time loops make no array per step (a projection's products aside): each step's product
goes into memory the loop already has (``kernels.products.matmul_add_into``), and
``matmul_add_into`` writes only its ``out``.

The allocation count runs in a child process: Numba counts its allocations only where
``NUMBA_NRT_STATS=1`` was set before it started.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import config

from scratchrnn import kernels
from scratchrnn.kernels import panels, products

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[1]

_CHILD = r'''
import json
import numpy as np
from numba.core.runtime import rtsys
from scratchrnn import kernels as K
from scratchrnn.kernels import panels

H = 32                                    # every product's width a multiple of a float32 panel's (32)

def packed(b):
    return panels.pack_into(b, np.empty(panels.panels_shape(*b.shape, b.dtype), b.dtype))

def cases(T, N, blas_small, in_panels):
    rng = np.random.default_rng(0)
    r = lambda *s: (0.1 * rng.standard_normal(s)).astype(np.float32)
    w = lambda b: packed(b) if in_panels else b
    lens = np.full(N, T)
    lens[N // 2:] = T // 2                # ended sequences too: (V1) and (V2) run
    return {
        "rnn_forward_kernel": (K.rnn_forward_kernel, (r(T, N, H), w(r(H, H)), r(T + 1, N, H), False, lens)),
        "rnn_backward_kernel": (K.rnn_backward_kernel, (r(T, N, H), r(N, H), w(r(H, H)), r(T + 1, N, H), False, lens,
                                                        r(T, N, H), r(T, N, H), r(N, H))),
        "lstm_forward_kernel": (K.lstm_forward_kernel, (r(T, N, 4 * H), w(r(H, 4 * H)), r(H, 0), r(T + 1, N, H),
                                                        r(T + 1, N, H), r(T, N, H), r(T, N, 4 * H), r(T, N, H), lens)),
        "lstm_backward_kernel": (K.lstm_backward_kernel, (r(T, N, H), r(N, H), r(N, H), w(r(4 * H, H)), r(0, H),
                                                          r(T + 1, N, H), r(T, N, 4 * H), r(T, N, H), lens,
                                                          r(T, N, 4 * H), r(T, N, H), r(N, H), r(N, H))),
        "gru_forward_kernel": (K.gru_forward_kernel, (r(T, N, 3 * H), w(r(H, 3 * H)), r(3 * H), r(T + 1, N, H),
                                                      r(T, N, 3 * H), r(T, N, H), lens)),
        "gru_backward_kernel": (K.gru_backward_kernel, (r(T, N, H), r(N, H), w(r(3 * H, H)), r(T + 1, N, H),
                                                        r(T, N, 3 * H), r(T, N, H), lens, r(T, N, 3 * H),
                                                        r(T, N, 3 * H), r(T, N, H), r(N, H))),
    }

WAYS = {                                  # (rows, blas_small, panels): how the steps multiply
    "own loops, one row": (1, 0, False),
    "own loops, three rows": (3, 0, False),
    "BLAS's small-matrix kernels": (3, 10 ** 6, False),
    "BLAS": (12, 0, False),
    "panels, one row": (1, 0, True),
    "panels, nine rows": (9, 0, True),
}
report = {}
for way, (N, blas_small, in_panels) in WAYS.items():
    counts = {}
    for T in (4, 40):
        for name, (fn, args) in cases(T, N, blas_small, in_panels).items():
            fn(*args, blas_small, 0, N)                   # compiled (or loaded) before counting
            before = rtsys.get_allocation_stats().alloc
            fn(*args, blas_small, 0, N)
            counts.setdefault(name, []).append(rtsys.get_allocation_stats().alloc - before)
    for name, (short, long) in counts.items():
        report[f"{name}, {way}"] = [short, long]
print(json.dumps(report))
'''


@pytest.mark.skipif(config.DISABLE_JIT, reason="with NUMBA_DISABLE_JIT=1 nothing is compiled, and "
                                             "Numba counts no allocations")
def test_no_time_loop_makes_an_array_per_step():
    """Each kernel's allocations at T = 40 are those at T = 4, whichever way its steps multiply,
    and more than none (the count is on). Half the sequences end at T / 2. (Before the loops
    kept their outputs, each step made one to three arrays: 36 or more at T = 40.)"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NRT_STATS": "1"}
    proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the child died (exit {proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report) == 36, report               # six kernels, six ways
    assert all(counts[0] > 0 for counts in report.values()), report   # each call counted something
    grew = {case: counts for case, counts in report.items() if counts[1] != counts[0]}
    assert not grew, grew


def _bound(c, a, b):
    """γ_{K+1}·(|c| + |a| @ |b|) in ``a``'s precision (Higham, Accuracy and Stability, §3.1), whatever
    the order of the sum, twice: once for the product, once for the float64 reference it is
    held to (which in float64 rounds as much)."""
    u = np.finfo(a.dtype).eps / 2
    n = a.shape[1] + 1
    mag = np.abs(c.astype(np.float64)) + np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    return 2 * n * u / (1 - n * u) * mag


def _plain_and_packed(rng, K, M, dtype):
    b = rng.standard_normal((K, M)).astype(dtype)
    return b, panels.pack_into(b, np.empty(panels.panels_shape(K, M, dtype), dtype))


WAYS = {                          # (rows, blas_small, b): how the product is multiplied
    "own loops, one row": (1, 0, "plain"),
    "own loops, 4 + 2 + 1 rows": (7, 0, "plain"),
    "BLAS's small-matrix kernels": (3, 10 ** 6, "plain"),
    "BLAS": (12, 0, "plain"),
    "BLAS, one row by a transposed b": (1, 0, "transposed"),
    "panels, one row: a group of four and one alone": (1, 0, "panels"),
    "panels, nine rows": (9, 0, "panels"),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("with_c", [False, True])
def test_matmul_add_into_writes_out_alone_and_as_matmul_add_does(dtype, way, with_c):
    """``out`` is a step's rows of a (T, N, M) array, as the loops give it, filled with NaN first:
    every element written, within the rounding bound of ``c + a @ b`` and the same bits as
    ``matmul_add``'s new array, ``out`` returned, and the other steps' rows, a, b and c
    untouched, whichever way the product is multiplied."""
    N, blas_small, kind = WAYS[way]
    rng = np.random.default_rng(N)
    K, M = 37, 5 * panels.panel_width(dtype)
    b, packed = _plain_and_packed(rng, K, M, dtype)
    w = {"plain": b, "transposed": np.asfortranarray(b), "panels": packed}[kind]
    a = rng.standard_normal((N, K)).astype(dtype)
    c = rng.standard_normal((N, M)).astype(dtype) if with_c else None
    if kind != "panels":                                        # the way this case takes
        assert (kernels.own_loops(N, b.size, blas_small) and w.flags.c_contiguous) == way.startswith("own loops")
    step = np.full((3, N, M), np.nan, dtype)                   # (T, N, M); step 1 is written
    kept = [v.copy() for v in (a, b, packed) + ((c,) if with_c else ())]
    got = kernels.matmul_add_into(step[1], c, a, w, blas_small)
    assert got is not None and np.shares_memory(got, step[1]) and got.shape == (N, M)
    assert not np.isnan(step[1]).any()
    cc = np.zeros((N, M), dtype) if c is None else c
    exact = cc.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    assert np.all(np.abs(step[1] - exact) <= _bound(cc, a, b))
    np.testing.assert_array_equal(step[1], kernels.matmul_add(c, a, w, blas_small))
    assert np.isnan(step[0]).all() and np.isnan(step[2]).all()
    for before, now in zip(kept, (a, b, packed) + ((c,) if with_c else ())):
        np.testing.assert_array_equal(before, now)


@pytest.mark.parametrize("in_panels", [False, True])
def test_matmul_add_into_refuses_an_out_it_cannot_fill(in_panels):
    """An out of the wrong shape is refused before anything is written. (One that is not
    C-contiguous does not compile: Numba's ``np.dot`` writes into C arrays only.)"""
    rng = np.random.default_rng(0)
    b, packed = _plain_and_packed(rng, 8, 32, np.float32)
    w = packed if in_panels else b
    a = rng.standard_normal((2, 8)).astype(np.float32)
    for out in (np.zeros((2, 31), np.float32), np.zeros((3, 32), np.float32)):
        with pytest.raises(ValueError, match=r"C-contiguous out \(N, M\)"):
            products.matmul_add_into(out, None, a, w, 0)
        assert not out.any()
