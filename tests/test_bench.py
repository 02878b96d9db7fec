"""The grid benchmark (scratchrnn.bench): tiny runs end to end, the FLOP model, the grid rule,
the targets' PASS/MISS, the ratio convention and its digits, where runs are written, the
no-JIT budget, the compile-time process and the CUDA branch on a CPU stand-in."""

import json
import os
import textwrap
import time

import numpy as np
import pytest

from scratchrnn.bench import cli, impls, nojit, report, spec, timing
from scratchrnn.bench import environment as bench_env
from scratchrnn.bench import measure as bench_measure

from grid_helpers import row as _row

pytest.importorskip("matplotlib", reason="needs matplotlib (the [plots] extra): the harness draws its plots")

# --max-other 100: the guard accepts every sample, so the run is fast on a busy machine
# (the guard itself is tested in test_bench_guard.py).
TINY = ["--T", "4", "--N", "1", "2", "--H", "8", "--dtypes", "float32", "--pause", "0",
        "--peak-sizes", "32", "--no-compile-time", "--min-sample-s", "0.002", "--max-other", "100"]


def _gemm(m, k, n):
    """FLOPs of one (m × k)·(k × n) product."""
    return 2 * m * k * n


@pytest.mark.parametrize("model, G", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_flops_match_a_count_of_every_gemm(model, G):
    T, N, I, H = 5, 3, 7, 4
    fwd = _gemm(T * N, I, G * H) + T * _gemm(N, H, G * H)       # x W_ihᵀ once, h W_hhᵀ per step
    bwd = (_gemm(G * H, T * N, I) + _gemm(T * N, G * H, I)         # dW_ih, dx
           + T * (_gemm(G * H, N, H) + _gemm(N, G * H, H)))        # dW_hh and δ W_hh per step
    assert spec.flops(model, "fwd", T, N, I, H) == fwd
    assert spec.flops(model, "fwdbwd", T, N, I, H) == fwd + bwd


def test_default_grid_follows_the_long_t_rule():
    points = spec.grid_points()
    assert len(points) == len(set(points)) == 3 * 2 * 2 * (16 + 13)
    assert spec.Point("lstm", "fwdbwd", "float32", 128, 64, 512) in points     # the peak target
    assert spec.Point("lstm", "fwdbwd", "float32", 128, 256, 512) not in points
    short = {(p.model, p.pass_, p.dtype, p.N, p.H) for p in points if p.T == 32}
    assert len(short) == 3 * 2 * 2 * 16                                       # T=32: every N, H
    assert all(p.N * p.H <= spec.LONG_T_MAX_NH for p in points if p.T == 128)
    assert len(spec.grid_points(long_t_max_nh=0)) == 3 * 2 * 2 * 32


def test_small_ratios_keep_their_digits():
    assert spec.fmt_ratio(0.00312) == "0.00312×"
    assert spec.fmt_ratio(0.0004567) == "0.000457×"
    assert spec.fmt_ratio(1.534) == "1.53×" and spec.fmt_ratio(114.2) == "114×"
    rows = [_row("rnn", 32, 1, 32, "scratchrnn", 0.003), _row("rnn", 32, 1, 32, "torch_cpu", 1.0)]
    text = "\n".join(report.targets_section(rows) + report.results_tables(rows))
    assert "0.003×" in text and "0.00×" not in text


def test_targets_report_miss_where_measured_values_miss():
    # N·H² = 16·32² = 16384 is small work (0.3× for the LSTM); 16·128² is not (0.8×)
    rows = [_row("lstm", 32, 16, 32, "scratchrnn", 0.2), _row("lstm", 32, 16, 32, "torch_cpu", 1.0),
            _row("lstm", 32, 16, 64, "scratchrnn", 0.79), _row("lstm", 32, 16, 64, "torch_cpu", 1.0),
            _row("lstm", 32, 1, 128, "scratchrnn", 0.31), _row("lstm", 32, 1, 128, "torch_cpu", 1.0),
            _row("gru", 32, 64, 128, "scratchrnn", 0.71), _row("gru", 32, 64, 128, "torch_cpu", 1.0),
            _row("rnn", 32, 1, 32, "scratchrnn", 0.19), _row("rnn", 32, 1, 32, "torch_cpu", 1.0),
            _row("lstm", 128, 64, 512, "scratchrnn", 1.0, peak_fraction=0.74),
            _row("lstm", 128, 64, 512, "torch_cpu", 2.0),
            _row("gru", 32, 1, 32, "scratchrnn", 0.51, dtype="float64"),
            _row("gru", 32, 1, 32, "torch_cpu", 1.0, dtype="float64"),
            # not a target point: forward only
            _row("rnn", 32, 1, 32, "scratchrnn", 9.0, pass_="fwd"),
            _row("rnn", 32, 1, 32, "torch_cpu", 1.0, pass_="fwd")]
    got = {(t["model"], t["dtype"], t["N"], t["H"], t["limit"]): t["ok"] for t in report.targets(rows)}
    assert got == {("lstm", "float32", 16, 32, 0.3): True, ("lstm", "float32", 16, 64, 0.8): True,
                   ("lstm", "float32", 1, 128, 0.3): False, ("gru", "float32", 64, 128, 0.7): False,
                   ("rnn", "float32", 1, 32, 0.2): True,
                   ("lstm", "float32", 64, 512, 0.8): True, ("lstm", "float32", 64, 512, 0.75): False,
                   ("gru", "float64", 1, 32, 0.5): False}
    text = "\n".join(report.targets_section(rows))
    assert "**4 of 8 PASS.**" in text
    assert "| time over torch CPU ≤ 0.7 | gru | float32 | 32 | 64 | 128 | 0.71× |  |  | **MISS** |" in text
    assert "| ≥ 75% of the float32 GEMM peak | lstm | float32 | 128 | 64 | 512 | 74% |  |  | **MISS** |" in text
    assert "| time over torch CPU ≤ 0.5 | gru | float64 | 32 | 1 | 32 | 0.51× |  |  | **MISS** |" in text
    assert "| fwd" not in text and "9.0×" not in text and "| 9×" not in text
    assert "No target point was run" in "\n".join(report.targets_section(rows[-2:]))


def test_targets_show_the_ratio_at_the_gemm_peak():
    # LSTM T=32 N=16 H=128 float32, fwdbwd: 3 · 2·32·16·(128 + 128)·512 = 402.7 MFLOP; at a
    # 100 GFLOP/s peak 4.03 ms, against torch's 4 ms: no time at 0.8× is reachable (floor 1.01×)
    rows = [_row("lstm", 32, 16, 128, "scratchrnn", 0.0045), _row("lstm", 32, 16, 128, "torch_cpu", 0.004),
            _row("lstm", 32, 16, 32, "scratchrnn", 0.2), _row("lstm", 32, 16, 32, "torch_cpu", 1.0)]
    for r in rows:
        r["peak_gflops"] = 100.0
    t = {(x["H"]): x for x in report.targets(rows)}
    assert abs(t[128]["floor"] - 402_653_184 / 100e9 / 0.004) < 1e-12 and not t[128]["ok"]
    text = "\n".join(report.targets_section(rows))
    assert "1 of the 1 misses ask for less than that bound" in text
    # needs 1.01 / 0.8 = 126 % of the peak; at H=32 the 25.2 MFLOP take 0.252 ms at the peak,
    # 0.000252× torch's 1 s, which 0.3× allows at 0.08 % of it
    assert ("| time over torch CPU ≤ 0.8 | lstm | float32 | 32 | 16 | 128 | 1.12× | 1.01× | 126% "
            "| **MISS** |") in text
    assert "| lstm | float32 | 32 | 16 | 32 | 0.2× | 0.000252× | 0% | PASS |" in text


def test_every_ratio_header_names_the_convention():
    rows = [_row("gru", 32, 1, 32, "scratchrnn", 0.5, flagged=True),
            _row("gru", 32, 1, 32, "torch_cpu", 1.0), _row("gru", 32, 1, 32, "loop_cpu", 2.0)]
    report.annotate(rows, {"cpu": {"float32": {"gflops": 100.0}}})
    env = {"cpu": {"model": "X", "isa": "AVX2", "usable_cpus": 2, "cpu_count": 2},
           "thread_pools": [], "torch": None}
    lines = (report.targets_section(rows) + report.results_tables(rows)
             + report.summary(rows, {"cpu": {"float32": {"gflops": 100.0}}}, env))
    headers = [l for l in lines if l.startswith(("| target", "Median ms", "| model | geometric"))]
    assert len(headers) == 3                     # targets, the ms table, the summary
    assert all(spec.RATIO in h for h in headers), headers
    line = report.console_line(1, 1, spec.Point("gru", "fwdbwd", "float32", 32, 1, 32), rows)
    assert spec.RATIO in line and "(0.5×)" in line
    assert report.FLAG in line and report.FLAG in "\n".join(report.results_tables(rows))   # flagged row


def test_a_run_goes_to_its_own_folder_outside_the_committed_results(torch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = cli.default_out("grid")
    assert first.startswith(os.path.join("runs", "bench"))
    assert "benchmarks" not in first
    assert cli.main(["--models", "gru", "--passes", "fwd", "--impls", "scratchrnn", "torch_cpu",
                     "--no-plots", *TINY]) == 0
    (run,) = os.listdir(tmp_path / "runs" / "bench")
    assert run.endswith("-grid") and (tmp_path / "runs" / "bench" / run / "grid_cpu.json").exists()
    assert not (tmp_path / "benchmarks").exists()


def test_tiny_grid_writes_json_markdown_and_plots(torch, tmp_path, capsys):
    assert cli.main(["--out", str(tmp_path), "--name", "t", "--models", "rnn",
                     "--passes", "fwdbwd", *TINY]) == 0
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["skipped_impls"] == {"torch_cuda": "no CUDA device", "loop_cuda": "no CUDA device"}
    assert data["environment"]["tf32"]["requested"] is False
    assert data["environment"]["cpu"]["isa"] in bench_env.ISA_LEVELS
    rows = {(r["impl"], r["N"]): r for r in data["rows"]}
    assert set(rows) == {(i, n) for i in ("scratchrnn", "scratchrnn_nojit", "torch_cpu", "loop_cpu")
                         for n in (1, 2)}
    peak = data["gemm_peak"]["cpu"]["float32"]["gflops"]
    for (impl, N), r in rows.items():
        assert r["status"] == "ok", r
        assert r["n_samples"] == len(r["samples_s"]) >= 5
        assert r["median_s"] == pytest.approx(float(np.median(r["samples_s"])))
        assert r["spread"] == pytest.approx(timing.spread(r["samples_s"]))
        assert r["flops"] == spec.flops("rnn", "fwdbwd", 4, N, 8, 8)
        assert r["gflops"] == pytest.approx(r["flops"] / r["median_s"] / 1e9)
        assert r["peak_fraction"] == pytest.approx(r["gflops"] / peak) and r["peak_fraction"] <= 1
        torch_s = rows[("torch_cpu", N)]["median_s"]
        assert r["time_over_torch_cpu"] == pytest.approx(r["median_s"] / torch_s)
        assert r["threads"]["torch"] == torch.get_num_threads() and r["dtype"] == "float32"
        assert r["device_name"] and "n_rejected" in r
        assert r["interleaved"] is (impl != "scratchrnn_nojit")
        assert r["jit_disabled"] is (impl == "scratchrnn_nojit")
        if impl in ("torch_cpu", "loop_cpu"):
            assert r["max_abs_diff"] < 1e-5          # the same weights and input as scratchrnn
    md = (tmp_path / "t.md").read_text()
    assert "## Targets" in md and md.count("PASS") + md.count("MISS") >= 2   # one target per point
    assert "no CUDA device" in md and "## Machine" in md and "## Load guard" in md
    assert "| huge pages | transparent huge pages: " in md       # each library's advice, recorded
    assert "| freed memory | " in md and data["environment"]["malloc"]
    assert set(data["environment"]["huge_pages"]) == {"thp", "numpy", "torch"}
    for kind in ("time", "ratio", "ratio_all", "gflops"):
        assert (tmp_path / f"t_{kind}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "[2/2] rnn fwdbwd float32 T=4 N=2 H=8" in out and "machine: " in out
    # `render` writes the same report again from the JSON alone
    (tmp_path / "t.md").write_text("stale")
    assert cli.main(["render", str(tmp_path / "t.json")]) == 0
    assert (tmp_path / "t.md").read_text() == md
    assert cli.main(["render", str(tmp_path / "missing.json")]) == 2


def test_fewer_than_five_samples_is_refused(capsys):
    assert cli.main(["--samples", "3", *TINY]) == 2
    assert "at least 5" in capsys.readouterr().err


def _settings():
    return bench_measure.Settings(timing.Guard(100.0), samples=5, min_sample_s=0.0, pause=0)


def test_nojit_budget_skips_larger_points_with_a_reason():
    P = spec.Point
    points = [P("rnn", "fwd", "float32", 4, 2, 8), P("gru", "fwd", "float32", 4, 2, 8),
              P("rnn", "fwd", "float32", 4, 1, 8), P("gru", "fwd", "float32", 4, 1, 8)]
    rows = nojit.nojit_rows(points, 1e-9, 0, {}, "cpu", _settings())   # every call over budget
    by = {(r["model"], r["N"]): r for r in rows}
    first = by[("gru", 1)]                                       # runs first: nothing to estimate from
    assert first["status"] == "ok" and first["n_samples"] == 1 and "warm-up" in first["reason"]
    assert first["flagged"]                                      # one sample: no spread to judge
    assert by[("gru", 2)]["status"] == "skipped"
    assert "at least as large as gru fwd float32 T=4 N=1 H=8" in by[("gru", 2)]["reason"]
    for key in (("rnn", 1), ("rnn", 2)):                         # estimated from the GRU's call
        assert by[key]["status"] == "skipped" and "estimated" in by[key]["reason"]
    rows = nojit.nojit_rows(points[2:], 60.0, 0, {}, "cpu", _settings())
    assert [r["status"] for r in rows] == ["ok", "ok"] and all(r["n_samples"] == 5 for r in rows)


def test_nojit_estimate_scales_with_elements_and_gemm_work():
    P = spec.Point
    q = P("lstm", "fwdbwd", "float32", 32, 1, 32)
    assert nojit.estimate(P("lstm", "fwdbwd", "float32", 32, 16, 32), (q, 0.1)) == pytest.approx(1.6)
    assert nojit.estimate(P("lstm", "fwdbwd", "float32", 32, 1, 128), (q, 0.1)) == pytest.approx(1.6)


class _FakeEvent:
    """torch.cuda.Event on the host clock."""
    def __init__(self, enable_timing=False):
        self.t = None

    def record(self, stream=None):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


@pytest.fixture
def tf32_flags(torch):
    """Save and restore torch's TF32 switches (plain assignments: these are properties of
    torch's backend modules, which monkeypatch's undo could not always set back)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_cuda_branch_runs_with_the_device_pointed_at_the_cpu(torch, tmp_path, monkeypatch, tf32_flags):
    syncs = []
    monkeypatch.setattr(impls, "CUDA_DEVICE", "cpu")
    monkeypatch.setattr(bench_env, "cuda_available", lambda: True)
    monkeypatch.setattr(bench_env, "cuda_info", lambda: {"device_name": "Fake GPU", "capability": "9.0",
                                                         "cuda": "13.0", "cudnn": 91000})
    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: syncs.append(1))
    assert cli.main(["--out", str(tmp_path), "--models", "gru", "--passes", "fwd", "--tf32",
                     "--impls", "torch_cpu", "torch_cuda", "loop_cuda", "--peak-sizes-cuda", "32",
                     "--no-plots", *TINY]) == 0
    data = json.loads((tmp_path / "grid_fake_gpu.json").read_text())
    assert data["environment"]["cuda"]["device_name"] == "Fake GPU"
    assert data["environment"]["tf32"] == {"requested": True, "cuda.matmul.allow_tf32": True,
                                           "cudnn.allow_tf32": True}
    assert data["gemm_peak"]["cuda"]["float32"]["n"] == 32
    gpu = [r for r in data["rows"] if r["impl"] in ("torch_cuda", "loop_cuda")]
    assert len(gpu) == 4 and all(r["status"] == "ok" for r in gpu)
    for r in gpu:
        assert r["device_name"] == "Fake GPU" and r["tf32"]["requested"] is True
        assert r["peak_gflops"] == data["gemm_peak"]["cuda"]["float32"]["gflops"]
        assert r["max_abs_diff"] < 1e-5
    n_calls = sum(len(r["warmup_s"]) + sum(r["calls_per_sample"]) for r in gpu)
    assert len(syncs) >= n_calls                  # one synchronize before every timed GPU call
    assert "Fake GPU" in (tmp_path / "grid_fake_gpu.md").read_text()


def test_compile_seconds_runs_a_fresh_process_with_an_empty_cache():
    # The real script compiles for 5-15 s; this stand-in checks what it is handed and returns.
    code = textwrap.dedent("""\
        import json, os, sys
        cache = os.environ["NUMBA_CACHE_DIR"]
        print(json.dumps({m + "/" + d: {"forward_s": float(len(os.listdir(cache))),
                                        "backward_s": 1.0} for m, d in json.loads(sys.argv[1])}))
    """)
    res = nojit.compile_seconds(["rnn", "gru"], ["float32", "float64"], code=code)
    assert list(res) == ["rnn/float32", "gru/float32", "rnn/float64", "gru/float64"]
    assert all(v == {"forward_s": 0.0, "backward_s": 1.0} for v in res.values())   # cache empty


def test_fresh_memory_impl_computes_the_same_without_workspaces():
    """``scratchrnn_fresh`` is scratchrnn with ``reuse_memory = False``: same weights, same bits."""
    point = spec.Point("lstm", "fwdbwd", "float64", 3, 2, 4)
    built, errors = impls.build(point, ["scratchrnn", "scratchrnn_fresh"], seed=0)
    assert not errors and set(built) == {"scratchrnn", "scratchrnn_fresh"}
    for _ in range(2):
        np.testing.assert_array_equal(built["scratchrnn"].call(), built["scratchrnn_fresh"].call())
    assert "scratchrnn_fresh" not in spec.DEFAULT_IMPLS and "scratchrnn_fresh" in spec.IMPLS


def test_serial_impl_runs_one_thread_and_restores_the_count():
    """``scratchrnn_serial`` runs each call on one Numba thread, then restores the count; the
    outputs agree with the row-blocked pass's."""
    import numba
    point = spec.Point("lstm", "fwdbwd", "float64", 4, 16, 8)
    built, errors = impls.build(point, ["scratchrnn", "scratchrnn_serial"], seed=0)
    assert not errors
    seen = []
    real = numba.set_num_threads
    before = numba.get_num_threads()
    try:
        numba.set_num_threads = lambda n: (seen.append(n), real(n))
        out_serial = built["scratchrnn_serial"].call()
    finally:
        numba.set_num_threads = real
    assert seen == [1, before] and numba.get_num_threads() == before
    # The same maths; the per-step products of 8-row blocks and of all 16 rows are summed by
    # different kernels (own loops with FMA, BLAS), so outputs (|h| < 1) differ by a few float64
    # ulp per step: 64 eps bounds 4 steps of it with room.
    np.testing.assert_allclose(built["scratchrnn"].call(), out_serial, rtol=0, atol=64 * np.finfo(float).eps)
    assert "scratchrnn_serial" not in spec.DEFAULT_IMPLS


def test_torch_serial_impl_runs_one_thread_and_restores_the_count():
    """``torch_cpu_serial`` runs each call on one torch thread, then restores the count; it is
    the same module as ``torch_cpu`` on the same weights and input, so the outputs agree."""
    torch = pytest.importorskip("torch")
    point = spec.Point("lstm", "fwdbwd", "float64", 4, 16, 8)
    built, errors = impls.build(point, ["torch_cpu", "torch_cpu_serial"], seed=0)
    assert not errors
    seen = []
    real = torch.set_num_threads
    before = torch.get_num_threads()
    try:
        torch.set_num_threads = lambda n: (seen.append(n), real(n))
        out_serial = built["torch_cpu_serial"].to_numpy(built["torch_cpu_serial"].call())
        out_default = built["torch_cpu"].to_numpy(built["torch_cpu"].call())
    finally:
        torch.set_num_threads = real
    assert seen == [1, before] and torch.get_num_threads() == before   # torch_cpu sets nothing
    # The same weights, input and kernels on one thread or more: float64 sums over H = 8 terms
    # in whatever order the threads split them, a few ulp of |h| < 1 per step at most.
    np.testing.assert_allclose(out_serial, out_default, rtol=0, atol=64 * np.finfo(float).eps)
    assert "torch_cpu_serial" not in spec.DEFAULT_IMPLS and "torch_cpu_serial" in spec.TORCH_IMPLS


class _CompilesFirst:
    """An implementation whose first call takes `first` seconds (a compile) and every later
    one `later` seconds, on a clock of its own."""

    def __init__(self, first, later):
        self.times, self.first, self.later = [], first, later

    def call(self):
        return np.zeros(1)

    def timer(self, fn):
        fn()
        self.times.append(self.first if not self.times else self.later)
        return self.times[-1]

    def to_numpy(self, out):
        return out


@pytest.mark.parametrize("later, calls", [(1e-4, 2000), (0.5, 1)])
def test_warm_up_sets_the_sample_from_warm_calls_not_the_compiling_one(later, calls):
    """A first call of 12 s (it compiled) and warm calls of 0.1 ms: 2,000 calls per 0.2 s
    sample, not one; a call that stays slow keeps one per sample and one warm call."""
    impl = _CompilesFirst(12.0, later)
    r = bench_measure._warm_up(impl)
    assert r["t_call"] == later
    assert timing.calls_per_sample(r["t_call"], 0.2) == calls
    assert r["warmup_s"][0] == 12.0
    assert len(r["warmup_s"]) == (2 if later >= bench_measure.SLOW_CALL_S else 1 + bench_measure.WARMUP_CALLS)
