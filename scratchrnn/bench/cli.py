"""``scratchrnn bench`` / ``python -m scratchrnn.bench``: the grid, training time, summaries.

    scratchrnn bench [--quick] [--dtypes float32] [--out DIR] ...   the kernel grid
    scratchrnn bench train [--tasks charlm mnist sine] [--data-dir DIR] [--out DIR]
    scratchrnn bench summary RUN/grid_cpu.json [...]                summary tables of runs
    scratchrnn bench render RUN/grid_cpu.json [...]                 RUN/grid_cpu.md again from the JSON

Every run writes into a folder of its own, ``runs/bench/<date>-<time>-<name>`` unless
``--out`` names one. Ratios everywhere are time over torch CPU's (below 1: faster).
Benchmark without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` and the like set: they force
kernels below what the CPU supports; the harness warns when it finds one.
"""

import argparse
import json
import os
import sys
import time

from scratchrnn.bench import environment, grid, measure, nojit, peaks, report, timing, train
from scratchrnn.bench import document
from scratchrnn.bench.spec import (DTYPES, H_VALUES, IMPLS, LONG_T_MAX_NH, MODELS, N_VALUES,
                                   PASSES, QUICK, SEED, T_VALUES)

RUNS = os.path.join("runs", "bench")


def default_out(name):
    """A fresh run folder under runs/bench (outside the committed results)."""
    return os.path.join(RUNS, time.strftime("%Y%m%d-%H%M%S") + "-" + name)


def _guard_arguments(p):
    p.add_argument("--max-other", type=float, default=timing.MAX_OTHER,
                   help=f"cores other processes may use during a sample before it is taken "
                        f"again (default {timing.MAX_OTHER})")
    p.add_argument("--pause", type=float, default=measure.PAUSE_S,
                   help=f"seconds between samples (default {measure.PAUSE_S})")
    p.add_argument("--out", help=f"run folder (default a new one under {RUNS})")
    p.add_argument("--name", help="file stem")


def grid_parser():
    p = argparse.ArgumentParser(
        prog="scratchrnn bench", description=__doc__.split("\n\n")[0].strip(),
        epilog="Also: 'scratchrnn bench train --help', 'scratchrnn bench summary --help'. "
               "The method is described in the scratchrnn.bench modules' docstrings.")
    p.add_argument("--quick", action="store_true",
                   help="a handful of small float32 forward+backward points, short samples")
    p.add_argument("--tf32", action="store_true", help="allow TF32 on the GPU (off by default)")
    p.add_argument("--samples", type=int, default=timing.SAMPLES,
                   help=f"guarded samples per point and implementation, at least 5 "
                        f"(default {timing.SAMPLES})")
    p.add_argument("--min-sample-s", type=float,
                   help=f"a sample lasts at least this long (default {timing.MIN_SAMPLE_S}; "
                        "0.1 with --quick)")
    p.add_argument("--max-spread", type=float, default=timing.MAX_SPREAD,
                   help=f"flag a point whose (p90 − p10)/median stays above this "
                        f"(default {timing.MAX_SPREAD})")
    p.add_argument("--models", nargs="+", choices=MODELS)
    p.add_argument("--T", nargs="+", type=int, help=f"sequence lengths (default {T_VALUES})")
    p.add_argument("--N", nargs="+", type=int, help=f"batch sizes (default {N_VALUES})")
    p.add_argument("--H", nargs="+", type=int, help=f"hidden sizes, I = H (default {H_VALUES})")
    p.add_argument("--passes", nargs="+", choices=["fwd", "fwdbwd"])
    p.add_argument("--dtypes", nargs="+", choices=["float32", "float64"])
    p.add_argument("--impls", nargs="+", choices=IMPLS, metavar="IMPL",
                   help=f"any of {', '.join(IMPLS)} (default: all present but scratchrnn_fresh and "
                        f"scratchrnn_serial, which measure what reusing memory and threads buy, "
                        f"and torch_cpu_serial, torch on one thread)")
    p.add_argument("--long-t-max-nh", type=int, default=LONG_T_MAX_NH,
                   help=f"run T > min(T) only where N·H ≤ this; 0: everywhere (default {LONG_T_MAX_NH})")
    p.add_argument("--nojit-max-s", type=float,
                   help=f"per-call budget of scratchrnn_nojit (default {nojit.NOJIT_MAX_S} s, "
                        f"{nojit.QUICK_NOJIT_MAX_S} s with --quick)")
    p.add_argument("--peak-sizes", nargs="+", type=int,
                   help=f"CPU GEMM peak: n × n products (default {peaks.SIZES}; (256, 512) with --quick)")
    p.add_argument("--peak-sizes-cuda", nargs="+", type=int,
                   help=f"GPU GEMM peak: n × n products (default {peaks.SIZES_CUDA})")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--no-plots", action="store_true", help="write no PNG files")
    p.add_argument("--no-compile-time", action="store_true",
                   help="skip the fresh-process Numba compile measurement")
    _guard_arguments(p)
    return p


def train_parser():
    p = argparse.ArgumentParser(prog="scratchrnn bench train",
                                description=train.__doc__.split("\n\n")[0].strip(),
                                epilog="Method: see the docstring of scratchrnn/bench/train.py.")
    p.add_argument("--tasks", nargs="+", choices=train.TASKS, default=train.TASKS)
    p.add_argument("--data-dir", help="data root with jaychou_lyrics.txt.zip and MNIST/raw "
                                      "(default: SCRATCHRNN_DATA)")
    p.add_argument("--chunks", type=int, default=train.CHUNKS,
                   help=f"guarded chunks per epoch, at least 5 (default {train.CHUNKS})")
    p.add_argument("--limit", type=int,
                   help="only this many batches (charlm, sine) or images (MNIST): quick checks, "
                        "not an epoch")
    p.add_argument("--min-seconds", type=float, default=train.MIN_TIMED_S,
                   help="time an epoch shorter than this several times back to back, at most "
                        f"{train.MAX_EPOCHS} (default {train.MIN_TIMED_S:g}; 0: once)")
    _guard_arguments(p)
    return p


def run_grid(argv):
    args = grid_parser().parse_args(argv)
    if args.samples < 5:
        print("error: --samples must be at least 5 (a median and spread need them)", file=sys.stderr)
        return 2
    base = QUICK if args.quick else dict(models=MODELS, T=T_VALUES, N=N_VALUES, H=H_VALUES,
                                         passes=PASSES, dtypes=DTYPES)
    cfg = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in base.items()}
    if args.nojit_max_s is None:
        args.nojit_max_s = nojit.QUICK_NOJIT_MAX_S if args.quick else nojit.NOJIT_MAX_S
    if args.min_sample_s is None:
        args.min_sample_s = 0.1 if args.quick else timing.MIN_SAMPLE_S
    if args.peak_sizes is None:
        args.peak_sizes = (256, 512) if args.quick else peaks.SIZES
    if args.out is None:
        args.out = default_out(args.name or ("grid_quick" if args.quick else "grid"))
    return grid.run(args, cfg, argv)


def run_train(argv):
    args = train_parser().parse_args(argv)
    if args.chunks < 5:
        print("error: --chunks must be at least 5 (a median and spread need them)", file=sys.stderr)
        return 2
    name = args.name or "train_cpu"
    args.out = args.out or default_out(name)
    t0, started = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S %z")
    guard = timing.Guard(args.max_other)
    env = environment.environment()
    grid.announce(env, guard)
    try:
        rows = train.run(args.tasks, guard, args.data_dir, args.chunks, args.pause, args.limit,
                         min_s=args.min_seconds)
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    method = {"guard": guard.describe(), "samples": args.chunks, "min_sample_s": "one chunk",
              "max_retries": train.MAX_RETRIES, "extra_samples": 0, "max_spread": timing.MAX_SPREAD}
    result = {"meta": {"name": name, "command": "scratchrnn bench train " + " ".join(argv),
                       "started": started, "wall_s": time.perf_counter() - t0, "method": method,
                       "method_text": " ".join(train.__doc__.split("\n\n")[2:]).replace("\n", " ")},
              "environment": env, "rows": rows}
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, name)
    grid.write_atomic(stem + ".json", json.dumps(result, indent=1))
    grid.write_atomic(stem + ".md", document.train_markdown(result))
    print(f"wrote {stem}.json, {stem}.md")
    return 0


def _load_run(path):
    """A saved run's JSON as a dict, or None after saying on stderr why it cannot be read."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"error: cannot read {path}: {e}", file=sys.stderr)
        return None


def _is_training(res):
    """Whether a saved run is a training-time run (its rows are tasks), not a grid run."""
    return bool(res["rows"]) and "task" in res["rows"][0]


def run_summary(argv):
    p = argparse.ArgumentParser(prog="scratchrnn bench summary",
                                description="Markdown summary tables of saved grid and training-time "
                                            "runs (as in benchmarks/results/README.md)")
    p.add_argument("runs", nargs="+", help="STEM.json files written by scratchrnn bench")
    args = p.parse_args(argv)
    for path in args.runs:
        res = _load_run(path)
        if res is None:
            return 2
        if _is_training(res):
            lines = [f"Training time, {environment.describe(res['environment'])}:", "",
                     *document.train_table(res["rows"])]
        else:
            lines = report.summary(res["rows"], res["gemm_peak"], res["environment"])
        print("\n".join(lines))
    return 0


def run_render(argv):
    p = argparse.ArgumentParser(prog="scratchrnn bench render",
                                description="Write a saved grid or training-time run's Markdown report "
                                            "again from its JSON, as this version of the report lays it out")
    p.add_argument("runs", nargs="+", help="STEM.json files of grid or training-time runs; STEM.md is "
                                           "rewritten")
    args = p.parse_args(argv)
    for path in args.runs:
        res = _load_run(path)
        if res is None:
            return 2
        if not isinstance(res, dict) or not res.get("rows") or "meta" not in res:
            print(f"error: {path} is not a grid or training-time run", file=sys.stderr)
            return 2
        stem = path[:-len(".json")] if path.endswith(".json") else path
        markdown = document.train_markdown if _is_training(res) else document.markdown
        grid.write_atomic(stem + ".md", markdown(res))
        print(f"wrote {stem}.md")
    return 0


def main(argv=None):
    """Dispatches on the first argument: ``train``, ``summary``, ``render`` or the grid's options."""
    argv = sys.argv[1:] if argv is None else list(argv)
    environment.give_torch_huge_pages()         # before torch is imported: see environment.py
    environment.keep_freed_memory()             # for both libraries: see environment.py
    if argv[:1] == ["train"]:
        return run_train(argv[1:])
    if argv[:1] == ["summary"]:
        return run_summary(argv[1:])
    if argv[:1] == ["render"]:
        return run_render(argv[1:])
    return run_grid(argv)
