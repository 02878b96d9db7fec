"""scratchrnn.bench.bounds: float64's floor (GEMM peak + libm's gate functions) at a grid's misses."""

import json
import math

import numpy as np
import pytest

from scratchrnn import functional
from scratchrnn.bench import bounds, impls
from scratchrnn.bench.spec import Point, flops

from grid_helpers import row

# Made-up libm costs, ns a cell: the RNN's one tanh, the GRU's two sigmoids and a tanh, the
# LSTM's three sigmoids and two tanhs, at 4 ns a sigmoid and 10 ns a tanh.
CELL_NS = {"rnn": 10.0, "gru": 2 * 4.0 + 10.0, "lstm": 3 * 4.0 + 2 * 10.0}


def _seconds(model, T, N, H):
    """Stands in for ``bounds.point_seconds``: one thread's seconds at CELL_NS a cell."""
    return T * N * H * CELL_NS[model] * 1e-9


def _rows(model, T, N, H, ours_s, torch_s, peak_gflops):
    return [row(model, T, N, H, impl, t, dtype="float64", peak_gflops=peak_gflops)
            for impl, t in (("scratchrnn", ours_s), ("torch_cpu", torch_s))]


# when and where the libm times were taken (``bounds.timed_here``), as _grid's CPU
TIMED = {"at": "2026-12-03 01:00:00 +0000",
         "cpu": {"model": "Test CPU", "cpu_count": 2, "isa": "AVX-512"}}


def _grid(rows, threads=2):
    return {"rows": rows, "meta": {"started": "2026-12-03 00:00:00 +0000"},
            "environment": {"numba": {"threads": threads},
                            "cpu": {"model": "Test CPU", "cpu_count": threads, "isa": "AVX-512"}}}


def _sigmoid(v):
    """The kernels' float64 sigmoid in Python, libm's exp (``scratchrnn.kernels.gates.sigmoid``)."""
    e = math.exp(-abs(v))
    return (1.0 if v >= 0 else e) / (1.0 + e)


# The arguments come from the reference forward and NumPy's GEMMs, summed in another order than
# the kernels sum theirs, so the functions of them differ from what the kernels saved by rounding:
# at most 3.3e-16 at this test's points when it was written (values below 1: a few ulp). A wrong
# argument moves them by far more: a bias left out by up to 1/√H ≈ 0.38 before the function, a
# gate block out of place by the gates' difference (about 0.1 and more). 1e-12 lies thousands of
# rounding errors above the one and ten orders of magnitude below the other.
ARGUMENTS_ATOL = 1e-12


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_arguments_are_those_the_kernels_pass(model):
    """The loops' results on the arguments are what the package's compiled float64 forward saved
    at the grid's model and input: h_t (R2); i, f, g, o and tanh(c_t) (L2), (L4); r, z and n
    (G2), (G3); every argument of every gate function checked."""
    T, N, H = 6, 5, 7
    m, x, _ = impls.inputs(Point(model, "fwdbwd", "float64", T, N, H), seed=3)
    p = m.state_dict()
    w = [p[f"{k}_l0"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    h0 = np.zeros((N, H))
    if model == "rnn":
        cache = functional.rnn_forward(x, h0, *w)[2]
        saved = (cache.h[1:],)
    elif model == "lstm":
        cache = functional.lstm_forward(x, h0, h0, *w)[3]
        saved = (cache.gates, cache.tanh_c)
    else:
        cache = functional.gru_forward(x, h0, *w)[2]
        saved = (cache.gates[..., :2 * H], cache.gates[..., 2 * H:])
    args = tuple(np.ascontiguousarray(a) for a in bounds.arguments(model, T, N, H, seed=3))
    outs = tuple(np.full_like(a, np.nan) for a in args)
    bounds.CALLS[model](*args, *outs)
    assert [a.shape for a in args] == [k.shape for k in saved]
    for out, want in zip(outs, saved):
        np.testing.assert_allclose(out, want, rtol=0, atol=ARGUMENTS_ATOL)


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_calls_are_the_kernels_functions_on_each_argument(model):
    """Each loop calls sigmoid where the forward takes a sigmoid and tanh where it takes a tanh,
    on every argument: its outputs are those functions of them, libm's, bit for bit."""
    T, N, H = 3, 4, 5
    args = tuple(np.ascontiguousarray(a) for a in bounds.arguments(model, T, N, H, seed=0))
    outs = tuple(np.full_like(a, np.nan) for a in args)
    bounds.CALLS[model](*args, *outs)
    sig, tanh = np.vectorize(_sigmoid, otypes=[float]), np.vectorize(math.tanh, otypes=[float])
    sigmoid_columns = {"rnn": [], "lstm": [*range(2 * H), *range(3 * H, 4 * H)], "gru": range(2 * H)}
    for k, (a, out) in enumerate(zip(args, outs)):
        columns = sigmoid_columns[model] if k == 0 else []
        want = tanh(a)
        want[..., columns] = sig(a[..., columns])
        assert np.array_equal(out, want), (model, k)


def test_libm_seconds_times_each_step_on_a_copy_of_its_arguments(monkeypatch):
    """Step by step, each step's arguments copied in, once a pass; and a call on no arguments."""
    args = bounds.arguments("lstm", 4, 3, 8, seed=0)
    steps = []

    def calls(a, c, out, out_c):
        assert out.shape == a.shape and out_c.shape == c.shape and a.shape[:2] in ((1, 3), (1, 0))
        if a.shape[1]:
            t = next(t for t in range(4) if np.array_equal(a[0], args[0][t]))
            assert np.array_equal(c[0], args[1][t])
            assert not any(np.shares_memory(a, arg) for arg in args)    # a copy
            steps.append(t)
        else:
            steps.append(None)

    monkeypatch.setitem(bounds.CALLS, "lstm", calls)
    s = bounds.libm_seconds("lstm", args, repeats=2)
    assert steps == [None] + [0, None, 1, None, 2, None, 3, None] * 2  # compile, then two passes
    assert np.isfinite(s) and s >= 0


def test_libm_seconds_sums_each_steps_fastest_less_a_calls_cost():
    """With a clock that makes each timed call take a set time: per step the fastest of the
    passes, less the fastest call on no arguments, summed over the steps."""
    args = bounds.arguments("rnn", 3, 2, 4, seed=0)
    # timed intervals in order: pass 1 (step 0, empty, step 1, empty, step 2, empty), then pass 2;
    # the least empty call (1.0) in pass 2, and step 2 no longer than it (clipped at 0)
    intervals = iter([5.0, 1.5, 7.0, 1.2, 9.0, 2.0,
                      4.0, 3.0, 8.0, 1.0, 0.5, 1.1])
    now = [0.0]

    def clock():
        """start and end of each interval: the end advances by the interval's length."""
        if len(now) % 2:
            now.append(now[-1])                       # start
        else:
            now.append(now[-1] + next(intervals))     # end
        return now[-1]

    s = bounds.libm_seconds("rnn", args, repeats=2, clock=clock)
    assert s == pytest.approx((4.0 - 1.0) + (7.0 - 1.0) + 0.0)


def test_libm_seconds_positive_and_finite():
    """The real loops, timed: a positive, finite time."""
    s = bounds.libm_seconds("gru", bounds.arguments("gru", 4, 3, 8, seed=0), repeats=2)
    assert np.isfinite(s) and s > 0


def test_the_grids_own_seed():
    """The model and input of the grid's points: its seed, or the harness's default without one."""
    assert bounds.grid_seed({"meta": {"seed": 7}}) == 7
    assert bounds.grid_seed({"meta": {}}) == bounds.SEED == 0
    a7, a0 = (bounds.arguments("rnn", 2, 2, 3, seed) for seed in (7, 0))
    assert not np.array_equal(a7[0], a0[0])


def test_bounds_at_the_misses_only_and_their_sum():
    """A miss gets the GEMM peak's floor, libm's time over the grid's threads as a ratio to
    torch's time, their sum and the larger of the two; a point within the target is left out."""
    T, N, H = 32, 64, 128
    rows = (_rows("lstm", T, N, H, ours_s=0.06, torch_s=0.1, peak_gflops=100.0)      # 0.6×: a miss
            + _rows("rnn", T, N, H, ours_s=0.04, torch_s=0.1, peak_gflops=100.0))    # 0.4×: within 0.5×
    found = bounds.bounds(_grid(rows), _seconds)
    assert [b["model"] for b in found] == ["lstm"]
    b = found[0]
    assert b["value"] == pytest.approx(0.6)
    assert b["floor"] == pytest.approx(flops("lstm", "fwdbwd", T, N, H, H) / 100e9 / 0.1)
    libm_s = T * N * H * CELL_NS["lstm"] * 1e-9 / 2
    assert b["libm_s"] == pytest.approx(libm_s)
    assert b["cell_ns"] == pytest.approx(CELL_NS["lstm"])
    assert b["libm"] == pytest.approx(libm_s / 0.1)
    assert b["both"] == pytest.approx(b["floor"] + b["libm"])
    assert b["larger"] == max(b["floor"], b["libm"])


def test_markdown_counts_and_marks_the_misses_beyond_their_floor():
    """A miss whose floor is above the target is counted and printed in bold, for the sum and
    for the larger of the two bounds separately; a miss below both is printed plain."""
    # T=32: 262,144 cells at CELL_NS's costs on 2 threads against torch's 4 ms: libm alone 1.05×
    # (lstm), 0.59× (gru), 0.33× (rnn); the rnn's GEMM floor 0.30× (403 MFLOP at 336 GFLOP/s).
    # T=128: the rnn against torch's 100 ms: libm 0.052×, GEMM floor 0.048×
    rows = (_rows("lstm", 32, 64, 128, ours_s=0.006, torch_s=0.004, peak_gflops=1e5)
            + _rows("gru", 32, 64, 128, ours_s=0.006, torch_s=0.004, peak_gflops=1e5)
            + _rows("rnn", 32, 64, 128, ours_s=0.0028, torch_s=0.004, peak_gflops=336.0)
            + _rows("rnn", 128, 64, 128, ours_s=0.06, torch_s=0.1, peak_gflops=336.0))
    grid = _grid(rows)
    found = {(b["model"], b["T"]): b for b in bounds.bounds(grid, _seconds)}
    points = [("lstm", 32), ("gru", 32), ("rnn", 32), ("rnn", 128)]
    assert [found[p]["both"] > 0.5 for p in points] == [True, True, True, False]
    assert [found[p]["larger"] > 0.5 for p in points] == [True, True, False, False]
    assert found["rnn", 32]["floor"] < 0.5 and found["rnn", 32]["libm"] < 0.5   # only their sum is above
    page = bounds.markdown(grid, list(found.values()), "grid_cpu_float64.json", TIMED)
    assert "timed from 2026-12-03 01:00:00 +0000 on Test CPU, 2 cores, AVX-512, on one thread" in page
    assert "another CPU" not in page
    assert ("**3 of the 4 float64 misses ask for less than the sum** (in bold: above the target), "
            "**2 for less than the larger of the two**.") in page
    lines = {p: next(line for line in page.splitlines() if line.startswith(f"| {p[0]} | {p[1]} |"))
             for p in points}
    cells = {p: (f"{found[p]['both']:.3g}×", f"{found[p]['larger']:.3g}×") for p in points}
    for p, (both, larger) in cells.items():
        bold_both, bold_larger = p != ("rnn", 128), p in (("lstm", 32), ("gru", 32))
        assert lines[p].endswith(f"| {f'**{both}**' if bold_both else both} | "
                                 f"{f'**{larger}**' if bold_larger else larger} |"), lines[p]
    assert page.count("\n| lstm |") == 1 and page.count("\n| gru |") == 1


@pytest.mark.parametrize("change", [{"model": "Other CPU"}, {"isa": "AVX2"},
                                    {"isa_flags": ["avx2", "avx512f", "avx512_vp2intersect"]}])
def test_markdown_says_when_libm_ran_on_another_cpu(change):
    """Another model, ISA or set of ISA flags than the grid's (a Zen 5 VM and a Zen 4 VM here
    differ only in their flags) is said, in bold, before the method."""
    grid = _grid(_rows("rnn", 32, 64, 128, 0.06, 0.1, 100.0))
    grid["environment"]["cpu"]["isa_flags"] = ["avx2", "avx512f"]
    found = bounds.bounds(grid, _seconds)
    here = dict(TIMED["cpu"], isa_flags=["avx2", "avx512f"])
    page = bounds.markdown(grid, found, "g.json", {"at": TIMED["at"], "cpu": dict(here, **change)})
    assert "**The gate functions were timed on another CPU than the grid's" in page
    assert "so these bounds do not hold for the grid's times.**" in page
    same = bounds.markdown(grid, found, "g.json", {"at": TIMED["at"], "cpu": dict(here, cpu_count=16)})
    assert "another CPU" not in same                  # the core count alone: libm runs on one thread


def test_a_bound_that_rounds_to_the_limit_gets_more_digits():
    """0.5004× would print as "0.5×" in bold, above the limit 0.5 though it reads as equal: more
    digits until it reads otherwise, in every ratio column compared with the target."""
    assert bounds._ratio(0.5004, 0.5) == "0.5004×"
    assert bounds._ratio(0.4996, 0.5) == "0.4996×"
    assert bounds._ratio(0.50004, 0.5) == "0.50004×" and bounds._ratio(0.49996, 0.5) == "0.49996×"
    assert bounds._ratio(0.5, 0.5) == "0.5×" and bounds._ratio(0.512, 0.5) == "0.512×"
    # measured 0.5004× (a miss) against torch's 0.1 s, the GEMM floor 0.5002×, libm taking no time
    T, N, H = 32, 64, 128
    peak = flops("rnn", "fwdbwd", T, N, H, H) / 0.05002 / 1e9
    grid = _grid(_rows("rnn", T, N, H, ours_s=0.05004, torch_s=0.1, peak_gflops=peak))
    found = bounds.bounds(grid, lambda *point: 0.0)
    page = bounds.markdown(grid, found, "g.json", TIMED)
    assert "| rnn | 32 | 64 | 128 | 0.5004× | 0.5002× |" in page
    assert page.rstrip().endswith("| **0.5002×** | **0.5002×** |")


def test_main_rejects_what_is_not_a_float64_grid(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert bounds.main([str(bad)]) == 2
    float32 = tmp_path / "f32.json"
    rows = _rows("lstm", 32, 64, 128, 0.06, 0.1, 100.0)
    for r in rows:
        r["dtype"] = "float32"
    float32.write_text(json.dumps(_grid(rows)))
    assert bounds.main([str(float32)]) == 2
    assert bounds.main([str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert "expected float64 rows" in err and "missing.json" in err


def test_main_times_libm_with_the_grids_seed(tmp_path, monkeypatch, capsys):
    """The arguments come from the grid's own seed, and the page names it."""
    seeds = []

    def point_seconds(seed, repeats=bounds.REPEATS):
        seeds.append(seed)
        return _seconds

    monkeypatch.setattr(bounds, "point_seconds", point_seconds)
    g = _grid(_rows("rnn", 32, 64, 128, 0.06, 0.1, 100.0))
    g["meta"]["seed"] = 7
    path = tmp_path / "g.json"
    path.write_text(json.dumps(g))
    assert bounds.main([str(path)]) == 0
    assert seeds == [7] and "(seed 7)" in capsys.readouterr().out


def test_main_writes_the_page(tmp_path, capsys):
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps(_grid(_rows("rnn", 32, 64, 128, 0.06, 0.1, 100.0))))
    out = tmp_path / "bounds.md"
    assert bounds.main([str(grid), "--out", str(out)]) == 0
    assert out.read_text() == capsys.readouterr().out.rstrip("\n") + "\n"
    assert "| rnn | 32 | 64 | 128 | 0.6× |" in out.read_text()
