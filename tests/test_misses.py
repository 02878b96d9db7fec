"""scratchrnn.bench.misses: which misses get profiled, and how each is sorted by its profile."""

import importlib.util
import json

import pytest

from scratchrnn.bench import environment, misses, stages

from grid_helpers import row

PEAK = 1e6          # GFLOP/s: a floor far below every target
SLOW_PEAK = 1.0     # GFLOP/s: a floor far above every target


def _pair(model, T, N, H, ours_s, torch_s, peak_gflops=PEAK, **kw):
    return [row(model, T, N, H, impl, t, peak_gflops=peak_gflops, **kw)
            for impl, t in (("scratchrnn", ours_s), ("torch_cpu", torch_s))]


def _grid(rows):
    return {"rows": rows, "meta": {"started": "2026-12-06 00:00:00 +0000"},
            "environment": {"cpu": {"model": "Test CPU", "cpu_count": 2, "isa": "AVX-512"}}}


def _grid_with_every_case():
    """LSTM float32 at N=16 H=128 (target 0.8×): 0.9× with a low floor (a miss to profile), the same
    at T=128 with the floor above the target (beyond the bound), 0.7× at N=64 (met); at
    T=128 N=64 H=512, a ratio met and a share of the peak missed (not a ratio target)."""
    return _grid(_pair("lstm", 32, 16, 128, 0.09, 0.1)
                 + _pair("lstm", 128, 16, 128, 0.09, 0.1, peak_gflops=SLOW_PEAK)
                 + _pair("lstm", 32, 64, 128, 0.07, 0.1)
                 + _pair("lstm", 128, 64, 512, 0.07, 0.1, peak_fraction=0.5))


def test_the_misses_within_the_bound_by_default_and_all_with_everything():
    grid = _grid_with_every_case()
    assert [(t["T"], t["N"]) for t in misses.misses(grid)] == [(32, 16)]
    assert sorted((t["T"], t["N"]) for t in misses.misses(grid, everything=True)) == [(32, 16), (128, 16)]
    assert all(t["value"] == pytest.approx(0.9) for t in misses.misses(grid, everything=True))


def _profile(gemm_ms, elementwise_ms, outside_ms, torch_ms):
    """A made-up ``stages.profile`` result: the GEMM stages, the elementwise ones and those
    outside the passes split evenly, and torch's time."""
    ms = 1e-3
    s = {name: gemm_ms * ms / len(misses.GEMM_STAGES) for name in misses.GEMM_STAGES}
    s.update({name: elementwise_ms * ms / 2 for name in misses.ELEMENTWISE})
    s.update({"rest: NaN and inf scans": outside_ms * ms / 2,
              "rest: Python and the output's copy": outside_ms * ms / 2})
    s["total"] = (gemm_ms + elementwise_ms + outside_ms) * ms
    s[stages.TORCH] = torch_ms * ms
    return s


def test_a_miss_is_the_gemms_when_they_alone_take_the_targets_time():
    """Target 0.8×: GEMM stages at 0.85× of torch's time are a miss of the GEMMs whatever the rest
    took; at 0.6×, the target leaves the rest 0.2× of torch's time, and they took 0.3×."""
    target = misses.misses(_grid_with_every_case())[0]
    gemms = misses.sort(target, _profile(8.5, 1.0, 0.5, 10.0))
    assert gemms["kind"] == "GEMMs"
    assert gemms["gemms"] == pytest.approx(0.85) and gemms["left"] == pytest.approx(-0.05)
    assert gemms["ratio"] == pytest.approx(1.0)
    rest = misses.sort(target, _profile(6.0, 2.0, 1.0, 10.0))
    assert rest["kind"] == "the rest"
    assert (rest["gemms"], rest["elementwise"], rest["outside"], rest["left"]) == pytest.approx((0.6, 0.2, 0.1, 0.2))


def test_markdown_counts_the_kinds_and_gives_each_profile():
    target = misses.misses(_grid_with_every_case())[0]
    found = [misses.sort(target, _profile(8.5, 1.0, 0.5, 10.0)),
             misses.sort(target, _profile(6.0, 2.0, 1.0, 10.0))]
    page = misses.markdown(_grid_with_every_case(), found, "grid.json")
    assert "**1 of the 2 misses profiled" in page and "other 1," in page
    assert "| lstm | float32 | 32 | 16 | 128 | 0.8× | 0.9× |" in page
    assert "| none | GEMMs |" in page and "| 0.2× | the rest |" in page
    assert page.count("### lstm, T=32 N=16 H=128") == 2            # each point's stage table


def _no_machine_settings(monkeypatch):
    monkeypatch.setattr(environment, "give_torch_huge_pages", lambda: None)
    monkeypatch.setattr(environment, "keep_freed_memory", lambda: None)


def test_main_profiles_each_miss_and_writes_the_page(tmp_path, monkeypatch, capsys):
    _no_machine_settings(monkeypatch)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(_grid_with_every_case()))
    calls = []

    def profile(model, T, N, H, dtype, repeats, torch_side):
        calls.append((model, T, N, H, dtype, repeats, torch_side))
        return _profile(6.0, 2.0, 1.0, 10.0)

    monkeypatch.setattr(stages, "profile", profile)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    (tmp_path / "results").mkdir()
    out = tmp_path / "results" / "misses.md"
    assert misses.main([str(path), "--repeats", "3", "--out", str(out)]) == 0
    assert calls == [("lstm", 32, 16, 128, "float32", 3, True)]
    assert out.read_text() in capsys.readouterr().out
    assert "**0 of the 1 misses profiled" in out.read_text()
    assert "[`../grid.json`](../grid.json)" in out.read_text()     # linked from where the page is


def test_main_names_a_file_that_is_no_grid_and_a_missing_torch(tmp_path, monkeypatch, capsys):
    _no_machine_settings(monkeypatch)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": []}))
    assert misses.main([str(bad)]) == 2
    assert "expected a saved grid's JSON" in capsys.readouterr().err
    assert misses.main([str(tmp_path / "absent.json")]) == 2
    assert "absent.json" in capsys.readouterr().err
    good = tmp_path / "grid.json"
    good.write_text(json.dumps(_grid_with_every_case()))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert misses.main([str(good)]) == 2
    assert "not installed" in capsys.readouterr().err
