"""A grid run from start to end: warnings, compile time, peaks, points, peak check, files.

``run(args)`` takes the parsed command line (``cli.py``) and writes STEM.json (every
sample of every row, the machine, the peaks), STEM.md and the PNG plots into the run
folder. Returns the exit status.
"""

import json
import os
import re
import sys
import time

from scratchrnn.bench import document, environment, impls, measure, nojit, peaks, report, timing
from scratchrnn.bench.spec import DEFAULT_IMPLS, GPU_IMPLS, TORCH_IMPLS, grid_points


def write_atomic(path, text):
    """Writes text to path through a temporary file, so a crash leaves no half file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def progress(points):
    """points in a tqdm progress bar (stderr) when tqdm is installed, and its print."""
    try:
        from tqdm import tqdm
    except ImportError:
        return points, print
    bar = tqdm(points, unit="point", file=sys.stderr, dynamic_ncols=True)
    return bar, bar.write


def available(wanted, cuda):
    """(implementations to run, {skipped: reason})."""
    try:
        import torch  # noqa: F401
        has_torch = True
    except ImportError:
        has_torch = False
    skipped = {}
    for name in wanted:
        if name in TORCH_IMPLS and not has_torch:
            skipped[name] = "torch not installed"
        elif name in GPU_IMPLS and not cuda:
            skipped[name] = "no CUDA device"
    return [n for n in wanted if n not in skipped], skipped


def announce(env, guard, say=print):
    """Prints the machine and every forcing warning before anything is timed."""
    say("machine: " + environment.describe(env))
    for w in env["forcing"]:
        say(f"WARNING: {w}")
    if not guard.on:
        say("WARNING: " + guard.describe()["why"])


def run(args, cfg, argv):
    """Runs the grid described by ``cfg`` (models, T, N, H, passes, dtypes) and ``args``."""
    t_start, started = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S %z")
    points = grid_points(cfg["models"], cfg["T"], cfg["N"], cfg["H"], cfg["passes"],
                         cfg["dtypes"], args.long_t_max_nh)
    names, skipped_impls = available(args.impls or DEFAULT_IMPLS, environment.cuda_available())
    cuda = any(n in GPU_IMPLS for n in names)
    in_process = [n for n in names if n != "scratchrnn_nojit"]
    tf32 = environment.tf32_state(args.tf32)
    env = environment.environment(tf32, environment.cuda_info() if cuda else None)
    guard = timing.Guard(args.max_other)
    settings = measure.Settings(guard, samples=args.samples, min_sample_s=args.min_sample_s,
                                pause=args.pause, max_spread=args.max_spread)
    announce(env, guard)
    name = args.name or ("grid_" + (_slug(env["cuda"]["device_name"]) if cuda else "cpu")
                         + ("_quick" if args.quick else ""))
    cpu_name = env["cpu"]["model"]
    device_names = {n: (env["cuda"]["device_name"] if n in GPU_IMPLS else cpu_name) for n in names}
    common = {"threads": {"torch": (env["torch"] or {}).get("threads"),
                          "blas": [p["num_threads"] for p in env["thread_pools"] or []
                                   if p["user_api"] == "blas"]},
              "tf32": tf32, "jit_disabled": env["numba"]["disable_jit"]}
    print(f"{len(points)} points × {', '.join(names)}; skipped: {skipped_impls or 'none'}", flush=True)

    compile_s = None
    if not args.no_compile_time and any(n.startswith("scratchrnn") for n in names):
        compile_s = nojit.compile_seconds(cfg["models"], cfg["dtypes"])
        print("Numba compile, empty cache (s): " + ", ".join(
            f"{k} {v['forward_s']:.2f}+{v['backward_s']:.2f}" for k, v in compile_s.items()), flush=True)

    def measure_peaks(dev, dtypes):
        if dev == "cuda":
            return peaks.measure_cuda(guard, dtypes, args.peak_sizes_cuda, device=impls.CUDA_DEVICE)
        return peaks.measure_cpu(guard, dtypes, args.peak_sizes, min_sample_s=args.min_sample_s,
                                 seed=args.seed, pause=args.pause)
    gemm_peak = {"cpu": measure_peaks("cpu", cfg["dtypes"]),
                 "cuda": measure_peaks("cuda", cfg["dtypes"]) if cuda else {}}
    print("GEMM peak (GFLOP/s, all threads / 1 thread): " + ", ".join(
        f"{dev} {dt} {p['gflops']:.1f}"
        + (f" / {p['one_thread_gflops']:.1f}" if "one_thread_gflops" in p else "")
        for dev, d in gemm_peak.items() for dt, p in d.items()), flush=True)

    rows, interrupted = [], False
    try:
        if in_process:
            bar, say = progress(points)
            for i, point in enumerate(bar, 1):
                point_rows = measure.run_point(point, in_process, args.seed, settings, common,
                                               device_names)
                rows += report.annotate(point_rows, gemm_peak)
                say(report.console_line(i, len(points), point, point_rows))
            if hasattr(bar, "close"):
                bar.close()
        if "scratchrnn_nojit" in names:
            print(f"scratchrnn with NUMBA_DISABLE_JIT=1 (subprocess, budget "
                  f"{args.nojit_max_s:g} s per call) ...", flush=True)
            rows += nojit.run_nojit(points, args.nojit_max_s, args.seed, common, cpu_name, settings)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: writing what was measured", file=sys.stderr)
    rows = report.annotate(rows, gemm_peak)     # again: the no-JIT rows' ratios use torch_cpu's
    peak_notes = peaks.check(rows, gemm_peak, measure_peaks)
    rows = report.annotate(rows, gemm_peak)

    result = {"meta": {"name": name, "command": "scratchrnn bench " + " ".join(argv),
                       "started": started, "wall_s": time.perf_counter() - t_start,
                       "interrupted": interrupted, "quick": args.quick, "n_points": len(points),
                       "grid": {**cfg, "long_t_max_nh": args.long_t_max_nh}, "impls": names,
                       "nojit_max_s": args.nojit_max_s, "seed": args.seed,
                       "method": settings.as_dict(), "peak_notes": peak_notes,
                       "flops": "GEMMs only: fwd 2·T·N·(I+H)·G·H, fwdbwd 3× fwd",
                       "ratio": "time over torch CPU's (below 1: faster than torch CPU)"},
              "environment": env, "gemm_peak": gemm_peak, "compile_s": compile_s,
              "skipped_impls": skipped_impls, "targets": report.targets(rows), "rows": rows}
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, name)
    write_atomic(stem + ".json", json.dumps(result, indent=1))
    write_atomic(stem + ".md", document.markdown(result))
    written = [stem + ".json", stem + ".md"]
    if not args.no_plots:
        try:
            from scratchrnn.bench import plots
        except ImportError as e:
            print(f"no plots: {e}", file=sys.stderr)
        else:
            written += plots.write_plots(result, args.out, name)
    print("\n".join(report.targets_section(rows)))
    n_flag = sum(bool(r.get("flagged")) for r in rows)
    if n_flag:
        print(f"{n_flag} of {len(rows)} rows flagged {report.FLAG} (see the Markdown)")
    print("wrote " + ", ".join(written) + f" in {(time.perf_counter() - t_start) / 60:.1f} min")
    return 130 if interrupted else 0
