"""scratchrnn.bench.misses: which misses get profiled, and how each is classified by its profile."""

import importlib.util
import json

import pytest

from scratchrnn.bench import environment, misses, stages, torch_gemms

from grid_helpers import row

PEAK = 1e6          # GFLOP/s: a floor far below every target
SLOW_PEAK = 1.0     # GFLOP/s: a floor far above every target


def _pair(model, T, N, H, ours_s, torch_s, peak_gflops=PEAK, **kw):
    return [row(model, T, N, H, impl, t, peak_gflops=peak_gflops, **kw)
            for impl, t in (("scratchrnn", ours_s), ("torch_cpu", torch_s))]


def _grid(rows):
    return {"rows": rows, "meta": {"started": "2026-12-06 00:00:00 +0000"},
            "environment": {"cpu": {"model": "Test CPU", "cpu_count": 2, "isa": "AVX-512"},
                            "numba": {"threads": 2}}}


def _grid_with_every_case():
    """LSTM float32 at N=16 H=128 (target 0.8×), torch 10 ms: 0.9× with a low floor (a miss to
    profile), the same at T=128 with the floor above the target (beyond the bound), 0.7× at N=64
    (met); at T=128 N=64 H=512, a ratio met and a share of the peak missed (not a ratio target);
    float64 RNN T=32 N=64 H=128 (target 0.5×): 0.6× with no peak known (no floor)."""
    return _grid(_pair("lstm", 32, 16, 128, 0.009, 0.01)
                 + _pair("lstm", 128, 16, 128, 0.009, 0.01, peak_gflops=SLOW_PEAK)
                 + _pair("lstm", 32, 64, 128, 0.007, 0.01)
                 + _pair("lstm", 128, 64, 512, 0.007, 0.01, peak_fraction=0.5)
                 + _pair("rnn", 32, 64, 128, 0.006, 0.01, peak_gflops=None, dtype="float64"))


def test_the_misses_within_their_bound_by_default_and_all_with_everything():
    grid = _grid_with_every_case()
    key = lambda t: (t["model"], t["dtype"], t["T"], t["N"])
    assert sorted(map(key, misses.misses(grid))) == [("lstm", "float32", 32, 16), ("rnn", "float64", 32, 64)]
    assert sorted(map(key, misses.misses(grid, everything=True))) == [
        ("lstm", "float32", 32, 16), ("lstm", "float32", 128, 16), ("rnn", "float64", 32, 64)]
    lstm = [t for t in misses.misses(grid) if t["model"] == "lstm"][0]
    assert lstm["value"] == pytest.approx(0.9) and lstm["torch_s"] == 0.01


def _profile(gemm_ms, elementwise_ms, outside_ms, torch_ms):
    """A made-up ``stages.profile`` result with the profile's own stage names: the GEMM stages,
    the elementwise ones and two outside the passes, each kind split evenly; and torch's time."""
    ms = 1e-3
    s = {"input projection (1 GEMM)": gemm_ms / 4 * ms, "forward: per-step products": gemm_ms / 4 * ms,
         "forward: gate maths": elementwise_ms / 2 * ms, "backward: per-step products": gemm_ms / 4 * ms,
         "backward: elementwise": elementwise_ms / 2 * ms,
         "weight/input gradients (3 GEMMs + bias sums)": gemm_ms / 4 * ms,
         "rest: NaN and inf scans": outside_ms / 2 * ms,
         "rest: Python and the output's copy": outside_ms / 2 * ms}
    s["total"] = (gemm_ms + elementwise_ms + outside_ms) * ms
    s[stages.TORCH] = torch_ms * ms
    return s


SLOW_TORCH = {stage: 1.0 for stage in stages.GEMM_STAGES}     # torch's matmul: 1 s a stage, never faster


def _lstm_miss():
    return [t for t in misses.misses(_grid_with_every_case()) if t["model"] == "lstm"][0]


@pytest.mark.parametrize("gemm_ms, torch_ms, kind, gemms, gemms_grid", [
    (8.5, 10.0, "GEMMs", 0.85, 0.85),              # over both torch times at the 0.8× target or above
    (8.0, 10.0, "GEMMs", 0.8, 0.8),                # exactly at the target: the GEMMs alone take its time
    (6.0, 10.0, "other stages", 0.6, 0.6),         # below it over both
    (8.5, 12.0, "undecided", 8.5 / 12, 0.85),      # torch slower in the profile: the two disagree
])
def test_a_miss_is_classified_by_its_gemm_stages_over_both_torch_times(gemm_ms, torch_ms, kind, gemms,
                                                                          gemms_grid):
    """Target 0.8×, torch 10 ms in the grid; the profile's elementwise 2 ms and outside 1 ms keep
    its ratio above the target in every case; torch's matmul slower at every GEMM stage."""
    m = misses.classify(_lstm_miss(), _profile(gemm_ms, 2.0, 1.0, torch_ms), SLOW_TORCH)
    assert m["kind"] == kind
    assert (m["gemms"], m["gemms_grid"]) == pytest.approx((gemms, gemms_grid))
    assert (m["best"], m["best_grid"]) == pytest.approx((gemms, gemms_grid))   # ours the faster
    assert (m["elementwise"], m["outside"]) == pytest.approx((2.0 / torch_ms, 1.0 / torch_ms))
    assert m["left"] == pytest.approx(0.8 - gemms) and m["torch_moved"] == pytest.approx(torch_ms / 10.0)
    assert m["ratio"] == pytest.approx((gemm_ms + 3.0) / torch_ms)


@pytest.mark.parametrize("projection_ms, torch_ms, kind, best_ms", [
    (2.0, 10.0, "GEMMs", 8.375),                   # torch's projection faster, the sum still 0.84×
    (1.5, 10.0, "torch's GEMMs faster", 7.875),    # ... faster still: 0.79× over both torch times
    (1.5, 9.0, "torch's GEMMs faster", 7.875),     # 0.875× over the profile's torch, 0.79× over the grid's
    (1.9, 10.5, "torch's GEMMs faster", 8.275),    # 0.788× over the profile's torch, 0.83× over the grid's
    (0.1, 12.0, "undecided", 6.475),               # our GEMM stages 0.71× and 0.85×: undecided comes first
])
def test_gemms_faster_in_torch_at_a_stage_count_at_torchs_time(projection_ms, torch_ms, kind, best_ms):
    """Our GEMM stages 8.5 ms, 2.125 ms each, against the 0.8× target over the grid's torch time
    (10 ms); torch's matmul slower at every stage but the input projection."""
    torch_stages = dict(SLOW_TORCH, **{"input projection (1 GEMM)": projection_ms * 1e-3})
    m = misses.classify(_lstm_miss(), _profile(8.5, 2.0, 1.0, torch_ms), torch_stages)
    assert m["kind"] == kind
    assert (m["best"], m["best_grid"]) == pytest.approx((best_ms / torch_ms, best_ms / 10.0))
    assert m["torch_stages"] == torch_stages


@pytest.mark.parametrize("others_ms, torch_ms, need, need_grid", [
    (3.0, 10.0, 6.0 / 5.0, 6.0 / 5.0),           # 8 ms allowed, 3 taken by the rest: 6 ms of GEMMs in 5
    (3.0, 12.0, 6.0 / 6.6, 6.0 / 5.0),           # torch slower in the profile: more time allowed there
    (9.0, 10.0, float("inf"), float("inf")),     # the rest alone takes more than the 8 ms allowed
])
def test_what_the_gemm_stages_would_need_with_the_other_stages_as_profiled(others_ms, torch_ms, need,
                                                                          need_grid):
    """Target 0.8×, torch 10 ms in the grid, the GEMM FLOPs 6 ms at the peak (floor 0.6×); the
    GEMM stages' own time (8.5 ms) does not enter."""
    miss = dict(_lstm_miss(), floor=0.6)
    m = misses.classify(miss, _profile(8.5, others_ms / 3, others_ms * 2 / 3, torch_ms), SLOW_TORCH)
    assert (m["need"], m["need_grid"]) == pytest.approx((need, need_grid))


def test_no_need_where_the_grid_knows_no_peak():
    rnn = [t for t in misses.misses(_grid_with_every_case()) if t["model"] == "rnn"][0]
    m = misses.classify(rnn, _profile(3.0, 1.0, 1.0, 10.0), SLOW_TORCH)
    assert m["need"] is None and m["need_grid"] is None


def test_a_miss_that_the_profile_met_says_so():
    """GEMMs 5 ms, the rest 2 ms against torch's 10 ms: 0.7×, within the 0.8× target."""
    m = misses.classify(_lstm_miss(), _profile(5.0, 1.0, 1.0, 10.0), SLOW_TORCH)
    assert m["kind"] == "met in the profile"


def test_the_kinds_read_a_real_profiles_stage_names():
    """A real profile (no torch: its time made up) has every stage the kinds add up: nothing is
    left out or counted twice."""
    s = stages.profile("lstm", T=3, N=2, H=4, dtype="float64", repeats=2)
    s[stages.TORCH] = s["total"]
    m = misses.classify(dict(_lstm_miss(), torch_s=s["total"]), s, SLOW_TORCH)
    assert all(name in s for name in stages.GEMM_STAGES + stages.ELEMENTWISE_STAGES)
    assert m["gemms"] + m["elementwise"] + m["outside"] == pytest.approx(1.0, rel=1e-9)
    assert m["outside"] > 0 and m["gemms"] > 0


def test_markdown_counts_the_kinds_and_gives_each_profile():
    target = _lstm_miss()
    fast_torch = dict(SLOW_TORCH, **{"input projection (1 GEMM)": 1e-3})
    found = [misses.classify(target, _profile(8.5, 2.0, 1.0, 10.0), SLOW_TORCH),
             misses.classify(target, _profile(6.0, 2.0, 1.0, 10.0), SLOW_TORCH),
             misses.classify(target, _profile(8.5, 2.0, 1.0, 10.0), fast_torch)]
    page = misses.markdown(_grid_with_every_case(), found, "grid.json")
    assert ("**3 misses profiled: 1 GEMMs, 1 torch's GEMMs faster, 1 other stages, 0 undecided, 0 met "
            "in the profile.**") in page
    # the GEMM stages, over the profile's torch and the grid's, then the same at the faster of the two
    assert "| 0.85× | 0.85× | 0.85× | 0.85× | 0.2× | 0.1× | none | 0% | 0% | GEMMs |" in page
    assert "| 0.85× | 0.85× | 0.738× | 0.738× | 0.2× | 0.1× | none | 0% | 0% | torch's GEMMs faster |" in page
    assert "the misses whose bound at the GEMM peak is within the target of [`grid.json`](grid.json)" in page
    assert "| lstm | float32 | 32 | 16 | 128 | 0.8× | 0.9× |" in page
    assert "| none | 0% | 0% | GEMMs |" in page and "| 0.2× | 0% | 0% | other stages |" in page
    assert page.count("### lstm, T=32 N=16 H=128") == 3            # each point's stage table ...
    assert page.count("torch's matmul on the same GEMM stages") == 3   # ... and torch's matmul on it
    assert "every miss of" in misses.markdown(_grid_with_every_case(), found, "grid.json", everything=True)
    # what the GEMM stages would need: the floor here is far below the target (a fast peak)
    assert "0 of the 3 misses whose peak is known would need their GEMM stages faster than the GEMM " \
           "peak over both torch times" in page
    beyond = [misses.classify(dict(target, floor=0.6), _profile(8.5, 2.0, 1.0, 10.0), SLOW_TORCH),
              misses.classify(dict(target, floor=0.6), _profile(8.5, 3.0, 6.0, 10.0), SLOW_TORCH),
              misses.classify(dict(target, floor=0.6), _profile(8.5, 1.0, 1.0, 13.0), SLOW_TORCH)]
    page = misses.markdown(_grid_with_every_case(), beyond, "grid.json")
    assert "| none | 120% | 120% | GEMMs |" in page and "| none | ∞ | ∞ | GEMMs |" in page
    # 6 ms of GEMMs in 0.8 × 13 − 2 and in 0.8 × 10 − 2: 71 %, and just the peak, not beyond it
    assert "| 71% | 100% | undecided |" in page
    assert "2 of the 3 misses whose peak is known would need" in page
    empty = misses.markdown(_grid_with_every_case(), [], "grid.json")
    assert "No miss to profile." in empty and "|" not in empty


def _no_machine_settings(monkeypatch):
    monkeypatch.setattr(environment, "give_torch_huge_pages", lambda: None)
    monkeypatch.setattr(environment, "keep_freed_memory", lambda: None)


def test_main_profiles_each_miss_and_writes_the_page_and_the_profiles(tmp_path, monkeypatch, capsys):
    _no_machine_settings(monkeypatch)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(_grid_with_every_case()))
    calls = []

    def profile(model, T, N, H, dtype, repeats, torch_side):
        calls.append((model, T, N, H, dtype, repeats, torch_side))
        return _profile(6.0, 2.0, 1.0, 10.0)

    monkeypatch.setattr(stages, "profile", profile)
    monkeypatch.setattr(torch_gemms, "gemm_stages",
                        lambda model, T, N, H, dtype, repeats: calls.append(("torch", model, T, repeats))
                        or SLOW_TORCH)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    (tmp_path / "results").mkdir()
    out = tmp_path / "results" / "misses.md"
    assert misses.main([str(path), "--repeats", "3", "--out", str(out)]) == 0
    assert calls == [("lstm", 32, 16, 128, "float32", 3, True), ("torch", "lstm", 32, 3),
                     ("rnn", 32, 64, 128, "float64", 3, True), ("torch", "rnn", 32, 3)]
    assert out.read_text() in capsys.readouterr().out
    assert "[`../grid.json`](../grid.json)" in out.read_text()     # linked from where the page is
    saved = json.loads((tmp_path / "results" / "misses.json").read_text())
    assert saved["grid"] == "../grid.json" and len(saved["misses"]) == 2
    assert saved["misses"][0]["profiled"]["total"] == pytest.approx(9e-3)
    assert saved["misses"][0]["torch_stages"] == SLOW_TORCH


def test_main_names_what_is_wrong_before_profiling(tmp_path, monkeypatch, capsys):
    _no_machine_settings(monkeypatch)
    monkeypatch.setattr(stages, "profile", lambda *a, **k: pytest.fail("profiled despite the error"))
    monkeypatch.setattr(torch_gemms, "gemm_stages", lambda *a, **k: pytest.fail("timed despite the error"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": []}))
    assert misses.main([str(bad)]) == 2
    assert "expected a saved grid's JSON" in capsys.readouterr().err
    assert misses.main([str(tmp_path / "absent.json")]) == 2
    assert "absent.json" in capsys.readouterr().err
    good = tmp_path / "grid.json"
    good.write_text(json.dumps(_grid_with_every_case()))
    assert misses.main([str(good), "--out", str(tmp_path / "nowhere" / "misses.md")]) == 2
    assert "no folder" in capsys.readouterr().err
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert misses.main([str(good)]) == 2
    assert "not installed" in capsys.readouterr().err


def test_again_writes_the_page_from_the_saved_profiles_without_profiling(tmp_path, monkeypatch, capsys):
    """A run's JSON, as --out writes it, one folder below its grid: --again classifies its
    profiles with this version (the "GEMMs need" columns included) and links the grid from
    where the new page goes; nothing is profiled, and torch is not needed."""
    _no_machine_settings(monkeypatch)
    monkeypatch.setattr(stages, "profile", lambda *a, **k: pytest.fail("profiled with --again"))
    monkeypatch.setattr(torch_gemms, "gemm_stages", lambda *a, **k: pytest.fail("timed with --again"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    (tmp_path / "grid.json").write_text(json.dumps(_grid_with_every_case()))
    (tmp_path / "old").mkdir()
    old = misses.classify(dict(_lstm_miss(), floor=0.6), _profile(8.5, 2.0, 1.0, 10.0), SLOW_TORCH)
    for key in ("need", "need_grid", "kind"):         # as a version without them wrote it
        del old[key]
    (tmp_path / "old" / "misses.json").write_text(json.dumps({"grid": "../grid.json", "misses": [old]}))
    out = tmp_path / "misses.md"                      # beside the grid, one folder up from the JSON
    assert misses.main(["--again", str(tmp_path / "old" / "misses.json"), "--out", str(out)]) == 0
    page = out.read_text()
    assert page in capsys.readouterr().out
    assert "[`grid.json`](grid.json)" in page and "| none | 120% | 120% | GEMMs |" in page
    assert "the misses whose bound at the GEMM peak is within the target" in page   # none beyond it
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["grid"] == "grid.json"
    assert saved["misses"][0]["need"] == pytest.approx(1.2) and saved["misses"][0]["kind"] == "GEMMs"
    # a run with --all saved a miss beyond its bound at the peak: the page says every miss
    beyond = dict(old, floor=0.9)                     # the GEMM FLOPs alone over the 0.8× target
    (tmp_path / "old" / "misses.json").write_text(json.dumps({"grid": "../grid.json", "misses": [old, beyond]}))
    assert misses.main(["--again", str(tmp_path / "old" / "misses.json")]) == 0
    assert "every miss of" in capsys.readouterr().out


def test_a_need_past_all_bounds_is_saved_as_strict_json(tmp_path, monkeypatch, capsys):
    """∞ ("the other stages alone took the target's time") goes into the JSON as "inf": a strict
    JSON reader (no Infinity) reads the file, and --again reads it back."""
    _no_machine_settings(monkeypatch)
    (tmp_path / "grid.json").write_text(json.dumps(_grid_with_every_case()))
    old = misses.classify(dict(_lstm_miss(), floor=0.6), _profile(8.5, 3.0, 6.0, 10.0), SLOW_TORCH)
    assert old["need"] == float("inf")
    (tmp_path / "old.json").write_text(json.dumps({"grid": "grid.json", "misses": [old]}))
    out = tmp_path / "new.md"
    assert misses.main(["--again", str(tmp_path / "old.json"), "--out", str(out)]) == 0
    text = (tmp_path / "new.json").read_text()
    strict = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert strict["misses"][0]["need"] == "inf" and strict["misses"][0]["need_grid"] == "inf"
    assert misses.main(["--again", str(tmp_path / "new.json")]) == 0
    assert "| none | ∞ | ∞ | GEMMs |" in capsys.readouterr().out


def test_again_names_what_is_wrong(tmp_path, capsys):
    with pytest.raises(SystemExit):                   # neither a grid nor --again: argparse's error
        misses.main([])
    assert "one of the two" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        misses.main(["grid.json", "--again", "misses.json"])
    assert "one of the two" in capsys.readouterr().err
    bad = tmp_path / "misses.json"
    bad.write_text(json.dumps({"grid": "grid.json", "misses": [{"model": "lstm"}]}))
    assert misses.main(["--again", str(bad)]) == 2
    assert "expected the JSON a run of this tool wrote beside its page" in capsys.readouterr().err
    bad.write_text(json.dumps({"grid": "absent.json", "misses": []}))
    assert misses.main(["--again", str(bad)]) == 2
    assert "absent.json" in capsys.readouterr().err
    assert misses.main(["--again", str(tmp_path / "nothing.json")]) == 2
    assert "nothing.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):                   # options that choose what to profile
        misses.main(["--again", str(bad), "--all"])
    assert "--again profiles nothing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        misses.main(["--again", str(bad), "--repeats", "3"])
    assert "--again profiles nothing" in capsys.readouterr().err
    assert misses.main(["--again", ""]) == 2          # an empty path is a path, not "no --again"
    assert "--again" in capsys.readouterr().err
