"""scratchrnn.bench.bounds: float64's floor (GEMM peak + libm's gate functions) at a grid's misses."""

import json

import numpy as np
import pytest

from scratchrnn.bench import bounds
from scratchrnn.bench.spec import flops

from grid_helpers import row

NS = {"sigmoid": 4.0, "tanh": 10.0}          # made-up libm costs, ns a value


def _rows(model, T, N, H, ours_s, torch_s, peak_gflops):
    return [row(model, T, N, H, impl, t, dtype="float64", peak_gflops=peak_gflops)
            for impl, t in (("scratchrnn", ours_s), ("torch_cpu", torch_s))]


def _grid(rows, threads=2):
    return {"rows": rows, "meta": {"started": "2026-12-03 00:00:00 +0000"},
            "environment": {"numba": {"threads": threads},
                            "cpu": {"model": "Test CPU", "cpu_count": threads, "isa": "AVX-512"}}}


def test_cell_costs_follow_the_forward_equations():
    """RNN: one tanh (R2); GRU: two sigmoids and a tanh (G2)–(G3); LSTM: three sigmoids and two
    tanhs, the gates and tanh(c_t) (L2), (L4)."""
    assert bounds.cell_ns("rnn", NS) == 10.0
    assert bounds.cell_ns("gru", NS) == 2 * 4.0 + 10.0
    assert bounds.cell_ns("lstm", NS) == 3 * 4.0 + 2 * 10.0


def test_bounds_at_the_misses_only_and_their_sum():
    """A miss gets the GEMM peak's floor, libm's time over the grid's threads as a ratio to
    torch's time, their sum and the larger of the two; a point within the target is left out."""
    T, N, H = 32, 64, 128
    rows = (_rows("lstm", T, N, H, ours_s=0.06, torch_s=0.1, peak_gflops=100.0)      # 0.6×: a miss
            + _rows("rnn", T, N, H, ours_s=0.04, torch_s=0.1, peak_gflops=100.0))    # 0.4×: within 0.5×
    found = bounds.bounds(_grid(rows), NS)
    assert [b["model"] for b in found] == ["lstm"]
    b = found[0]
    assert b["value"] == pytest.approx(0.6)
    assert b["floor"] == pytest.approx(flops("lstm", "fwdbwd", T, N, H, H) / 100e9 / 0.1)
    libm_s = T * N * H * (3 * 4.0 + 2 * 10.0) * 1e-9 / 2
    assert b["libm_s"] == pytest.approx(libm_s)
    assert b["libm"] == pytest.approx(libm_s / 0.1)
    assert b["both"] == pytest.approx(b["floor"] + b["libm"])
    assert b["larger"] == max(b["floor"], b["libm"])


def test_markdown_counts_and_marks_the_misses_beyond_their_floor():
    """A miss whose floor is above the target is counted and printed in bold, for the sum and
    for the larger of the two bounds separately; a miss below both is printed plain."""
    # T=32: 262,144 cells at NS's costs on 2 threads against torch's 4 ms: libm alone 1.05×
    # (lstm), 0.59× (gru), 0.33× (rnn); the rnn's GEMM floor 0.30× (403 MFLOP at 336 GFLOP/s).
    # T=128: the rnn against torch's 100 ms: libm 0.052×, GEMM floor 0.048×
    rows = (_rows("lstm", 32, 64, 128, ours_s=0.006, torch_s=0.004, peak_gflops=1e5)
            + _rows("gru", 32, 64, 128, ours_s=0.006, torch_s=0.004, peak_gflops=1e5)
            + _rows("rnn", 32, 64, 128, ours_s=0.0028, torch_s=0.004, peak_gflops=336.0)
            + _rows("rnn", 128, 64, 128, ours_s=0.06, torch_s=0.1, peak_gflops=336.0))
    grid = _grid(rows)
    found = {(b["model"], b["T"]): b for b in bounds.bounds(grid, NS)}
    points = [("lstm", 32), ("gru", 32), ("rnn", 32), ("rnn", 128)]
    assert [found[p]["both"] > 0.5 for p in points] == [True, True, True, False]
    assert [found[p]["larger"] > 0.5 for p in points] == [True, True, False, False]
    assert found["rnn", 32]["floor"] < 0.5 and found["rnn", 32]["libm"] < 0.5   # only their sum is above
    page = bounds.markdown(grid, NS, list(found.values()), "grid_cpu_float64.json")
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


def test_libm_times_are_positive_and_finite():
    ns = bounds.libm_ns(values=4096, repeats=2)
    assert set(ns) == {"sigmoid", "tanh"}
    assert all(np.isfinite(v) and v > 0 for v in ns.values())


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


def test_main_writes_the_page(tmp_path, capsys):
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps(_grid(_rows("rnn", 32, 64, 128, 0.06, 0.1, 100.0))))
    out = tmp_path / "bounds.md"
    assert bounds.main([str(grid), "--out", str(out)]) == 0
    assert out.read_text() == capsys.readouterr().out.rstrip("\n") + "\n"
    assert "| rnn | 32 | 64 | 128 | 0.6× |" in out.read_text()
