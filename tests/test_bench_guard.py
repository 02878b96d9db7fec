"""The benchmark's defences: the load guard (with a fake /proc/stat and with a real spinning
process), the spread flag, the peak that no row may exceed, the machine record and the
warning about variables that force slower kernels, and the plots' convention and flags."""

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import pytest

from scratchrnn.bench import cli, measure, peaks, report, spec, timing
from scratchrnn.bench import environment as bench_env
from scratchrnn.kernels import panels


class FakeStat:
    """A /proc/stat reader and an own-CPU clock that tests drive: ``work()``, run inside a
    guarded take, adds the next ``others`` seconds of other processes' CPU time."""

    def __init__(self, others):
        self.others = list(others)      # other CPU seconds during each take, in order
        self.busy = self.own = 0.0
        self.takes = 0

    def reader(self):
        return self.busy

    def own_clock(self):
        return self.own

    def work(self, *_):
        self.takes += 1
        self.busy += self.others.pop(0) if self.others else 0.0
        time.sleep(0.005)


def test_guard_rejects_a_sample_while_others_are_busy_and_counts_it():
    fake = FakeStat([5.0, 3.0, 0.0])                 # two disturbed takes, then a quiet one
    guard = timing.Guard(0.10, reader=fake.reader, own=fake.own_clock, cpus=2, tick_s=0.01)
    calls = []
    s = timing.guarded_sample(guard, lambda: calls.append(1) or fake.work()
                              if len(calls) % 2 == 1 else calls.append(1), 2)
    assert s.rejected == 2 and not s.kept_disturbed and len(calls) == 6   # 3 takes of 2 calls
    stats = timing.summarise([s] * 5)
    assert stats["n_rejected"] == 10 and not stats["flagged"]


def test_own_cpu_time_is_not_counted_as_others():
    fake = FakeStat([0.5])

    def own():                                       # this process used all the busy time
        return fake.busy
    guard = timing.Guard(0.10, reader=fake.reader, own=own, cpus=2, tick_s=0.01)
    wall, other = guard.run(fake.work)
    assert fake.busy == 0.5 and other == 0.0 and not guard.disturbed(wall, other)


def test_retries_are_bounded_and_a_kept_disturbed_sample_flags_the_point():
    fake = FakeStat([9.0] * 20)
    guard = timing.Guard(0.10, reader=fake.reader, own=fake.own_clock, cpus=2, tick_s=0.01)
    s = timing.guarded_sample(guard, fake.work, 1, max_retries=3)
    assert s.rejected == 3 and s.kept_disturbed
    stats = timing.summarise([s] + [s._replace(kept_disturbed=False)] * 4)
    assert stats["flagged"] and "busy" in stats["flags"][0]


def test_guard_sees_a_real_spinning_process():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)                              # let it start spinning
        guard = timing.Guard(0.10)
        if not guard.on:
            pytest.skip("no /proc/stat on this system: the guard is off here")
        wall, other = guard.run(lambda: time.sleep(0.5))
        # the spinner alone keeps one core busy; rounding is at most a few jiffies
        assert other > 0.5 and guard.disturbed(wall, other), other
    finally:
        spinner.kill()
        spinner.wait()


def test_without_proc_stat_the_guard_is_off_and_says_so(tmp_path):
    guard = timing.Guard(0.1, reader=lambda: None)
    assert guard.describe()["on"] is False and "/proc/stat" in guard.describe()["why"]
    s = timing.guarded_sample(guard, lambda: None, 3)
    assert s.rejected == 0 and s.other_cores is None
    assert timing.read_proc_stat(str(tmp_path / "missing")) is None
    assert timing.wait_quiet(guard)["quiet"] is None


def test_wait_quiet_waits_for_quiet_and_gives_up_within_its_bound():
    fake = FakeStat([1.0, 1.0, 0.0])
    guard = timing.Guard(0.10, reader=fake.reader, own=fake.own_clock, cpus=2, tick_s=0.01)
    got = timing.wait_quiet(guard, window_s=0.02, max_s=5, sleep=fake.work)
    assert got["quiet"] is True and fake.takes == 3           # three looks
    fake = FakeStat([1.0] * 1000)
    guard = timing.Guard(0.10, reader=fake.reader, own=fake.own_clock, cpus=2, tick_s=0.01)
    t0 = time.perf_counter()
    got = timing.wait_quiet(guard, window_s=0.02, max_s=0.1, sleep=fake.work)
    assert got["quiet"] is False and time.perf_counter() - t0 < 1.0


def test_sample_sizing_batches_short_calls_past_the_jiffy():
    assert timing.calls_per_sample(1e-4, 0.05) == 500
    assert timing.calls_per_sample(0.2, 0.05) == 1


def test_a_wide_spread_gets_extra_samples_then_a_flag():
    class Impl:                                      # timed calls alternate 1 ms and 3 ms
        def __init__(self):
            self.n = 0
            self.device = "cpu"
            self.to_numpy = np.asarray

        def call(self):
            return np.zeros(1)

        def timer(self, fn):
            fn()
            self.n += 1
            return 0.001 if self.n % 2 else 0.003
    guard = timing.Guard(100.0)
    settings = measure.Settings(guard, samples=5, min_sample_s=0.0, pause=0, extra=3)
    res = measure.measure({"x": Impl()}, settings)["x"]
    assert len(res["samples"]) == 8                  # 5, then 3 more: the spread stayed wide
    stats = timing.summarise(res["samples"], settings.max_spread)
    assert stats["flagged"] and stats["spread"] > 0.5 and stats["n_samples"] == 8
    assert timing.spread([1.0] * 5) == 0.0
    assert timing.spread([1.0, 1.0, 1.0, 1.0, 2.0]) > timing.MAX_SPREAD


def _rows_at(rate_gflops):
    r = {"impl": "scratchrnn", "model": "lstm", "pass": "fwdbwd", "dtype": "float32", "T": 128,
         "N": 64, "H": 512, "I": 512, "status": "ok"}
    r["flops"] = spec.flops("lstm", "fwdbwd", 128, 64, 512, 512)
    r["median_s"] = r["flops"] / rate_gflops / 1e9
    return [r]


def test_a_row_above_the_peak_makes_the_run_measure_the_peak_again():
    said, asked = [], []
    rows = _rows_at(120.0)
    pk = {"cpu": {"float32": {"gflops": 100.0, "via": "x", "notes": []}}, "cuda": {}}

    def remeasure(dev, dtypes):
        asked.append((dev, dtypes))
        return {"float32": {"gflops": 150.0, "via": "again"}}
    msgs = peaks.check(rows, pk, remeasure, say=said.append)
    assert asked == [("cpu", ["float32"])] and len(msgs) == 1 and said == msgs
    assert "above 100 %" in msgs[0] and "measured the peak again" in msgs[0]
    assert pk["cpu"]["float32"]["gflops"] == 150.0 and pk["cpu"]["float32"]["notes"] == msgs
    report.annotate(rows, pk)
    assert rows[0]["peak_fraction"] == pytest.approx(0.8)


def test_no_row_ever_reports_more_than_the_peak():
    rows = _rows_at(120.0)
    pk = {"cpu": {"float32": {"gflops": 100.0, "via": "x", "notes": []}}, "cuda": {}}
    msgs = peaks.check(rows, pk, lambda dev, dt: {"float32": {"gflops": 90.0}}, say=lambda m: None)
    assert len(msgs) == 2 and "raised" in msgs[1]
    report.annotate(rows, pk)
    assert rows[0]["peak_fraction"] <= 1.0 and not peaks.over_peak(rows, pk)
    assert peaks.check(_rows_at(50.0), pk, None) == []        # under the peak: nothing to do


def test_cpu_peak_is_the_best_over_sizes_libraries_and_threads():
    pytest.importorskip("threadpoolctl")
    guard = timing.Guard(100.0)
    got = peaks.measure_cpu(guard, ["float64"], sizes=(16, 32), repeats=2, min_sample_s=0.001, pause=0)
    p = got["float64"]
    libs = p["by_library"]
    assert {"openblas, 1 thread", "openblas, all threads"} <= set(libs)
    assert p["gflops"] == max(v["gflops"] for k, v in libs.items() if k.endswith("all threads"))
    assert p["one_thread_gflops"] == max(v["gflops"] for k, v in libs.items() if k.endswith("1 thread"))
    assert all(v["n"] in (16, 32) and len(v["samples_s"]) == 2 for v in libs.values())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_peaks_panel_product_is_the_product(dtype):
    rng = np.random.default_rng(0)
    n = 160                                       # blocks of 53, 53, 54 rows: groups of eight, then pairs
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out = np.full((n, n), np.nan, dtype)
    peaks.panel_product(a, panels.pack_into(b, np.empty(panels.panels_shape(n, n, dtype), dtype)), out)
    # each element a sum of n products: ours in a's dtype, the reference in float64, each
    # within n·u·Σ|a_k b_k| of the exact sum (Higham, Accuracy and Stability of Numerical
    # Algorithms, §3.1; u = eps / 2 of its dtype), so within 2·n·u of each other
    reference, scale = a.astype(np.float64) @ b, np.abs(a).astype(np.float64) @ np.abs(b)
    assert np.all(np.abs(out - reference) <= 2 * n * np.finfo(dtype).eps / 2 * scale)


def test_cpu_peak_counts_the_time_loops_panel_product_where_they_use_it():
    pytest.importorskip("threadpoolctl")
    guard = timing.Guard(100.0)
    got = peaks.measure_cpu(guard, ["float32"], sizes=(128,), repeats=1, min_sample_s=0.001, pause=0)
    libs = got["float32"]["by_library"]
    used = panels.use_panels(panels.MAX_ROWS, 128, 128, "float32")   # AVX-512 only
    assert ({"scratchrnn panels, 1 thread", "scratchrnn panels, all threads"} <= set(libs)) == used


AVX512 = {"model": "AMD EPYC 9B45", "isa": "AVX-512", "cpu_count": 2, "usable_cpus": 2}


def test_cpu_isa_comes_from_the_flags():
    assert bench_env.vector_isa({"avx2", "avx512f", "fma"}) == "AVX-512"
    assert bench_env.vector_isa({"avx", "avx2", "sse2"}) == "AVX2"
    assert bench_env.vector_isa({"sse2"}) == "SSE"
    rec = bench_env.cpu_record(("Some CPU", {"avx", "avx2", "fma", "sse2"}))
    assert rec["isa"] == "AVX2" and rec["isa_flags"] == ["avx", "avx2", "fma"]


def test_a_variable_forcing_slower_kernels_is_named():
    pools = [{"user_api": "blas", "internal_api": "openblas", "prefix": "libscipy_openblas",
              "architecture": "Haswell", "num_threads": 2}]
    torch = {"cpu_capability": "AVX512"}
    w = bench_env.forcing_warnings(AVX512, pools, torch,
                                   {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576"})
    assert any("OPENBLAS_CORETYPE=Haswell" in x and "AVX2" in x for x in w)
    assert any("OPENBLAS_L2_SIZE" in x for x in w)
    assert any("libscipy_openblas runs its Haswell kernels" in x for x in w)
    avx2 = dict(AVX512, isa="AVX2")                  # Haswell kernels are right on an AVX2 CPU
    assert bench_env.forcing_warnings(avx2, pools, {"cpu_capability": "AVX2"},
                                      {"OPENBLAS_CORETYPE": "Haswell"}) == []
    assert bench_env.forcing_warnings(AVX512, [], {"cpu_capability": "AVX512"}, {}) == []
    assert bench_env.forcing_warnings(AVX512, [], {"cpu_capability": "AVX2"}, {})   # torch held back


SMAPS = """\
7f0000000000-7f0000200000 rw-p 00000000 00:00 0
Size:               2048 kB
VmFlags: rd wr mr mw me ac sd
7f0000200000-7f0000a00000 rw-p 00000000 00:00 0
Size:               8192 kB
AnonHugePages:      8192 kB
VmFlags: rd wr mr mw me ac sd hg
"""


def test_huge_page_advice_is_read_from_the_mapping_that_holds_the_address(tmp_path):
    smaps = tmp_path / "smaps"
    smaps.write_text(SMAPS)
    assert bench_env._advised(0x7f0000300000, smaps) is True          # inside the advised mapping
    assert bench_env._advised(0x7f0000000100, smaps) is False         # the one before: no "hg"
    assert bench_env._advised(0x7f0000a00000, smaps) is None          # in neither (end is exclusive)
    assert bench_env._advised(0x7f0000300000, tmp_path / "absent") is None
    mode = tmp_path / "enabled"
    mode.write_text("always [madvise] never\n")
    assert bench_env.huge_pages(mode, smaps)["thp"] == "madvise"
    assert bench_env.huge_pages(tmp_path / "absent", smaps)["thp"] is None


def test_uneven_huge_pages_are_warned_about_where_only_advice_gets_them():
    on, off = {"numpy": True, "torch": True}, {"numpy": True, "torch": False}
    assert bench_env.forcing_warnings(AVX512, [], None, {}, dict(on, thp="madvise")) == []
    w = bench_env.forcing_warnings(AVX512, [], None, {}, dict(off, thp="madvise"))
    assert len(w) == 1 and "NumPy's large buffers are advised for huge pages and torch's are not" in w[0]
    assert "THP_MEM_ALLOC_ENABLE=unset" in w[0]
    for mode in ("always", "never", None):               # the advice changes nothing there
        assert bench_env.forcing_warnings(AVX512, [], None, {}, dict(off, thp=mode)) == []


def test_torch_is_given_huge_pages_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    assert bench_env.give_torch_huge_pages() == "1" and os.environ["THP_MEM_ALLOC_ENABLE"] == "1"
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")
    assert bench_env.give_torch_huge_pages() == "0"


@pytest.mark.skipif(not os.path.exists(bench_env.THP_MODE) or not os.path.exists("/proc/self/smaps"),
                    reason="needs Linux with transparent huge pages (/proc/self/smaps and the THP mode)")
def test_a_fresh_process_gives_torch_huge_pages_as_the_harness_sets_it():
    pytest.importorskip("torch", reason="needs torch (not installed)")
    code = ("from scratchrnn.bench import environment as e; import json; "
            "e.give_torch_huge_pages(); print(json.dumps(e.huge_pages()))")
    env = {k: v for k, v in os.environ.items() if k not in ("THP_MEM_ALLOC_ENABLE", "NUMPY_MADVISE_HUGEPAGE")}
    got = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout)
    assert got["torch"] is True and got["numpy"] is True    # both ask for huge pages
    env["THP_MEM_ALLOC_ENABLE"] = "0"                       # torch's default: it does not ask
    got = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout)
    assert got["torch"] is False


class FakeLibc:
    """Records mallopt's calls; answers ``ok`` (1: accepted, 0: refused)."""

    def __init__(self, ok=1):
        self.calls, self.ok = [], ok

    def mallopt(self, param, value):
        self.calls.append((param, value.value))
        return self.ok


def test_freed_memory_is_kept_where_glibc_runs_without_an_allocator_of_the_environments(monkeypatch):
    monkeypatch.setattr(bench_env, "_malloc", None)       # what the harness found, restored after
    monkeypatch.setattr(bench_env.platform, "libc_ver", lambda: ("glibc", "2.36"))
    libc = FakeLibc()
    got = bench_env.keep_freed_memory({}, libc)
    size = bench_env.KEEP_FREED_BYTES
    assert sorted(libc.calls) == sorted([(bench_env.M_MMAP_THRESHOLD, size), (bench_env.M_TRIM_THRESHOLD, size)])
    assert got == "glibc 2.36 keeps freed memory (mmap and trim thresholds 1 GiB)" == bench_env._malloc
    assert "refused" in bench_env.keep_freed_memory({}, FakeLibc(ok=0))
    for env, named in (({"LD_PRELOAD": "libjemalloc.so.2"}, "LD_PRELOAD"),
                       ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, "GLIBC_TUNABLES"),
                       ({"MALLOC_TRIM_THRESHOLD_": "0"}, "MALLOC_TRIM_THRESHOLD_")):
        libc = FakeLibc()
        assert bench_env.keep_freed_memory(env, libc) == f"as the environment sets it ({named})"
        assert libc.calls == []                           # the environment's choice stands
    libc = FakeLibc()                                     # asked for glibc's defaults
    assert bench_env.keep_freed_memory({"SCRATCHRNN_KEEP_FREED_MEMORY": "0"}, libc) == \
        "glibc's defaults (SCRATCHRNN_KEEP_FREED_MEMORY=0)" and libc.calls == []
    libc = FakeLibc()                                     # tunables of something else: set as usual
    assert "keeps freed memory" in bench_env.keep_freed_memory({"GLIBC_TUNABLES": "glibc.cpu.x86_shstk=off"}, libc)
    monkeypatch.setattr(bench_env.platform, "libc_ver", lambda: ("", ""))
    libc = FakeLibc()
    assert bench_env.keep_freed_memory({}, libc).endswith("(not glibc: left as they are)") and libc.calls == []


RESIDENT_AFTER_FREE = """
import os, numpy as np
from scratchrnn.bench import environment as e
if {keep}:
    print(e.keep_freed_memory({{}}))
page = os.sysconf("SC_PAGE_SIZE")
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
a = np.ones(256 << 20, np.uint8)                   # 256 MiB, every page touched
before = resident()
del a
print(before - resident())                          # what freeing it handed back
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not os.path.exists("/proc/self/statm"),
                    reason="needs glibc on Linux (/proc/self/statm)")
@pytest.mark.parametrize("keep", [False, True])
def test_a_process_that_keeps_freed_memory_holds_on_to_a_freed_block(keep):
    choosers = (*bench_env.MALLOC_VARIABLES, "GLIBC_TUNABLES", bench_env.KEEP_FREED_MEMORY)
    env = {k: v for k, v in os.environ.items() if k not in choosers}
    out = subprocess.run([sys.executable, "-c", RESIDENT_AFTER_FREE.format(keep=keep)], env=env,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    handed_back = int(out[-2])
    if keep:
        assert "keeps freed memory" in out[0] and handed_back < 16 << 20
    else:                                             # glibc's default: a block this big goes back
        assert handed_back > 240 << 20


def test_environment_records_the_machine():
    pytest.importorskip("threadpoolctl")
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    env = bench_env.environment()
    assert env["cpu"]["model"] and env["cpu"]["isa"] and env["cpu"]["usable_cpus"] >= 1
    blas = [p for p in env["thread_pools"] if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] >= 1 and "architecture" in p for p in blas)
    assert env["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["versions"]["numpy"] == np.__version__ and "forcing" in env
    assert set(env["huge_pages"]) == {"thp", "numpy", "torch"} and env["malloc"]
    json.dumps(env)                                   # it goes into the JSON as it is


def test_the_warning_comes_before_anything_is_timed(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch", reason="needs torch (not installed)")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setattr(bench_env, "cpu_record", lambda cpuinfo=None: dict(AVX512, isa_flags=[]))
    assert cli.main(["--out", str(tmp_path), "--models", "rnn", "--passes", "fwd", "--impls",
                     "scratchrnn", "--T", "2", "--N", "1", "--H", "4", "--dtypes", "float32",
                     "--pause", "0", "--peak-sizes", "16", "--no-compile-time", "--no-plots",
                     "--min-sample-s", "0.001", "--max-other", "100"]) == 0
    out = capsys.readouterr().out
    assert out.index("WARNING: OPENBLAS_CORETYPE=Haswell") < out.index("GEMM peak")
    data = json.loads((tmp_path / "grid_cpu.json").read_text())
    assert data["environment"]["variables"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert any("OPENBLAS_CORETYPE" in w for w in data["environment"]["forcing"])
    assert "**Warning: OPENBLAS_CORETYPE=Haswell" in (tmp_path / "grid_cpu.md").read_text()


def test_plots_name_the_convention_and_ring_flagged_points(monkeypatch):
    pytest.importorskip("matplotlib")
    from scratchrnn.bench import plots
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, title: figs.append((fig, title)) or path)
    rows = []
    for N, flagged in ((1, True), (16, False)):
        for impl, t in (("scratchrnn", 0.5), ("torch_cpu", 1.0)):
            r = dict(impl=impl, model="rnn", dtype="float32", T=32, N=N, H=32, I=32, status="ok",
                     median_s=t * 1e-3, flagged=flagged and impl == "scratchrnn", device="cpu",
                     **{"pass": "fwdbwd"})
            rows.append(r)
    report.annotate(rows, {"cpu": {"float32": {"gflops": 100.0}}})
    env = {"cpu": {"model": "X", "isa": "AVX2", "usable_cpus": 2, "cpu_count": 2},
           "thread_pools": [], "torch": None, "cuda": None}
    result = {"rows": rows, "environment": env, "meta": {"name": "t"},
              "gemm_peak": {"cpu": {"float32": {"gflops": 100.0}}}}
    plots.ratio_plot(result, "a.png")
    plots.ratio_all_plot(result, "b.png")
    for fig, title in figs:
        ax = fig.axes[0]
        assert spec.RATIO in ax.get_ylabel() and "below 1" in ax.get_ylabel()
        assert spec.CONVENTION in title
        rings = [l for l in ax.lines if l.get_markeredgecolor() == "red"]
        assert len(rings) == 1 and list(rings[0].get_xdata()) == [32]     # N·H of the flagged row
