"""PNG plots of a grid run, drawn from the rows of its JSON.

    python -m scratchrnn.bench.plots RUN/grid_cpu.json    # redraw from a saved run

Four files, STEM_*.png, log axes throughout:

- ``time``: median time per call against the call's GEMM work, per implementation; one
  panel per model (rows) and (dtype, pass) (columns);
- ``ratio``: each implementation's time over torch CPU's (below 1: faster than torch
  CPU) against N·H, float32 forward+backward (or the first pair run), one line per
  (implementation, H), one panel per model and T; the targets' lines are drawn;
- ``ratio_all``: the same for scratchrnn alone in every (dtype, pass);
- ``gflops``: achieved GFLOP/s against the call's GEMM work, with the GEMM peak measured in
  the same run as a horizontal line.
"""

import json
import os
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")                 # files only, no display
import matplotlib.pyplot as plt       # noqa: E402
from matplotlib.lines import Line2D   # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator   # noqa: E402

from scratchrnn.bench import environment  # noqa: E402
from scratchrnn.bench.spec import (CONVENTION, IMPL_LABELS, PASS_LABELS, RATIO,  # noqa: E402
                                   TARGET_RATIO_FLOAT64, TARGET_SMALL_WORK, TARGETS_FLOAT32,
                                   combos, impls_in, models_in)

RATIO_LABEL = f"{RATIO} (below 1: faster)"

COLORS = {"scratchrnn": "C0", "scratchrnn_nojit": "C7", "scratchrnn_fresh": "C9", "scratchrnn_serial": "C8", "torch_cpu": "C3",
          "torch_cpu_serial": "C5", "loop_cpu": "C2",
          "torch_cuda": "C1", "loop_cuda": "C4"}
IMPL_MARKERS = {"scratchrnn": "o", "scratchrnn_nojit": "x", "scratchrnn_fresh": "+", "scratchrnn_serial": "^", "torch_cpu": "s",
                "torch_cpu_serial": "P", "loop_cpu": "^",
                "torch_cuda": "D", "loop_cuda": "v"}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]     # one per H in the speed-up plots


def _ok(rows):
    return [r for r in rows if r["status"] == "ok"]


def _subtitle(result):
    env = result["environment"]
    gpu = env.get("cuda")
    n = sum(bool(r.get("flagged")) for r in result["rows"])
    return (environment.describe(env) + (f"; {gpu['device_name']}" if gpu else "")
            + f" — {result['meta']['name']}" + (f"; {n} flagged rows ringed red" if n else ""))


def _ring_flagged(ax, pts):
    """Red rings around the flagged (x, y) points."""
    if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, ls="", marker="o", ms=9, mfc="none", mec="red", mew=1.2)


def _log_axes(ax, x_base=10):
    """Log-log axes with plain tick labels ("0.001", "2048") and no minor ticks: mathtext
    labels and minor ticks make drawing many panels slow."""
    ax.set_xscale("log", base=x_base)
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for axis, base in ((ax.xaxis, x_base), (ax.yaxis, 10)):
        if base == 10:
            axis.set_major_locator(LogLocator(10, subs=(1.0, 2.0, 5.0)))   # labels on narrow ranges too
        axis.set_major_formatter(plain)
        axis.set_minor_locator(NullLocator())
    ax.grid(True, which="major", alpha=0.3)


def _grid(n_rows, n_cols):
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(max(4.6 * n_cols, 7.0), 3.6 * n_rows),
                             squeeze=False, layout="constrained")
    return fig, axes


def _save(fig, path, title):
    """Titles the figure (wrapped to its width), saves it as PNG, closes it. Returns path."""
    width = int(fig.get_figwidth() * 11)                   # characters that fit at fontsize 10
    lines = [w for line in title.splitlines() for w in textwrap.wrap(line, width)]
    fig.suptitle("\n".join(lines), fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _scatter_per_impl(ax, rows, y):
    """One marker per point and implementation, x = GEMM GFLOP of one call (points of the
    same work but another shape sit above one another: no lines, which would zigzag)."""
    for impl in impls_in(rows):
        pts = [(r["flops"] / 1e9, y(r)) for r in rows if r["impl"] == impl]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, ls="", marker=IMPL_MARKERS[impl], ms=4, alpha=0.8,
                    color=COLORS[impl], label=IMPL_LABELS[impl])
    _ring_flagged(ax, [(r["flops"] / 1e9, y(r)) for r in rows if r.get("flagged")])


def _panels(rows):
    """One axes per (model, dtype, pass): the figure and [(ax, model, dtype, pass, rows)]."""
    models, pairs = models_in(rows), combos(rows)
    fig, axes = _grid(len(models), len(pairs))
    panels = [(axes[i][j], model, dtype, pass_,
               [r for r in rows if r["model"] == model and r["dtype"] == dtype and r["pass"] == pass_])
              for i, model in enumerate(models) for j, (dtype, pass_) in enumerate(pairs)]
    return fig, panels


def time_plot(result, path):
    """Median ms per call against GFLOP per call, per implementation."""
    rows = _ok(result["rows"])
    fig, panels = _panels(rows)
    for ax, model, dtype, pass_, sel in panels:
        _scatter_per_impl(ax, sel, lambda r: r["median_s"] * 1e3)
        _log_axes(ax)
        ax.set(xlabel="GEMM GFLOP per call", ylabel="ms per call",
               title=f"{model} · {dtype} · {PASS_LABELS[pass_]}")
        ax.legend(fontsize=7)
    return _save(fig, path, "Median time per call against problem size\n" + _subtitle(result))


def _has_ratio(r):
    return r.get("time_over_torch_cpu") is not None


def _ratio_lines(ax, rows, impls):
    """Lines of impl time / torch CPU time against N·H; colour = impl, marker = H."""
    Hs = sorted({r["H"] for r in rows})
    for impl in impls:
        for k, H in enumerate(Hs):
            pts = sorted((r["N"] * r["H"], r["time_over_torch_cpu"]) for r in rows
                         if r["impl"] == impl and r["H"] == H and _has_ratio(r))
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, color=COLORS[impl], marker=MARKERS[k % len(MARKERS)], ms=4, lw=1)
    _ring_flagged(ax, [(r["N"] * r["H"], r["time_over_torch_cpu"]) for r in rows
                       if r["impl"] in impls and _has_ratio(r) and r.get("flagged")])
    return Hs


def _target_lines(ax, model, dtype, pass_):
    """Parity (black); for forward+backward, the model's targets in grey: the ratio everywhere
    (solid) and, in float32, the one where N·H² is small (dashed)."""
    ax.axhline(1.0, color="k", lw=0.8)
    if pass_ != "fwdbwd":
        return
    if dtype == "float64":
        ax.axhline(TARGET_RATIO_FLOAT64, color="0.5", lw=0.9)
    elif model in TARGETS_FLOAT32:
        small, everywhere, _ = TARGETS_FLOAT32[model]
        ax.axhline(everywhere, color="0.5", lw=0.9)
        ax.axhline(small, color="0.5", ls="--", lw=0.9)


def _legend(ax, impls, Hs):
    handles = [Line2D([], [], color=COLORS[i], lw=2, label=IMPL_LABELS[i]) for i in impls]
    handles += [Line2D([], [], color="0.3", marker=MARKERS[k % len(MARKERS)], ls="", label=f"H={H}")
                for k, H in enumerate(Hs)]
    ax.legend(handles=handles, fontsize=7, ncol=2)


def ratio_plot(result, path):
    """Implementation time / torch CPU time against N·H, for one (dtype, pass), per model and T."""
    rows = _ok(result["rows"])
    pairs = [c for c in combos(rows) if any(_has_ratio(r) for r in rows
                                              if (r["dtype"], r["pass"]) == c)]
    if not pairs:
        return None
    dtype, pass_ = pairs[0]
    rows = [r for r in rows if r["dtype"] == dtype and r["pass"] == pass_]
    impls = [i for i in impls_in(rows) if i != "torch_cpu"]
    models, Ts = models_in(rows), sorted({r["T"] for r in rows})
    fig, axes = _grid(len(models), len(Ts))
    for i, model in enumerate(models):
        for j, T in enumerate(Ts):
            ax = axes[i][j]
            sel = [r for r in rows if r["model"] == model and r["T"] == T]
            Hs = _ratio_lines(ax, sel, impls)
            _log_axes(ax, x_base=2)
            ax.set(xlabel="N·H", ylabel=RATIO_LABEL,
                   title=f"{model} · T={T} · {dtype} · {PASS_LABELS[pass_]}")
            _target_lines(ax, model, dtype, pass_)
            _legend(ax, impls, Hs)
    note = ("; grey: the target everywhere" + (f", dashed: where N·H² ≤ {TARGET_SMALL_WORK}"
                                               if dtype == "float32" else "")
            if pass_ == "fwdbwd" else "")
    return _save(fig, path, f"Each implementation's {CONVENTION}{note}\n" + _subtitle(result))


def ratio_all_plot(result, path):
    """scratchrnn's time over torch CPU's in every (dtype, pass): colour = H, line = T."""
    rows = _ok(result["rows"])
    mine = [r for r in rows if r["impl"] == "scratchrnn" and _has_ratio(r)]
    if not mine:
        return None
    models, pairs = models_in(mine), combos(mine)
    Ts, Hs = sorted({r["T"] for r in mine}), sorted({r["H"] for r in mine})
    styles = ["-", "--", ":", "-."]
    fig, axes = _grid(len(models), len(pairs))
    for i, model in enumerate(models):
        for j, (dtype, pass_) in enumerate(pairs):
            ax = axes[i][j]
            for k, H in enumerate(Hs):
                for t, T in enumerate(Ts):
                    pts = sorted((r["N"] * H, r["time_over_torch_cpu"]) for r in mine
                                 if (r["model"], r["dtype"], r["pass"], r["H"], r["T"])
                                 == (model, dtype, pass_, H, T))
                    if pts:
                        xs, ys = zip(*pts)
                        ax.plot(xs, ys, color=f"C{k}", ls=styles[t % len(styles)], marker="o", ms=3)
            _log_axes(ax, x_base=2)
            ax.set(xlabel="N·H", ylabel=RATIO_LABEL,
                   title=f"scratchrnn · {model} · {dtype} · {PASS_LABELS[pass_]}")
            _target_lines(ax, model, dtype, pass_)
            _ring_flagged(ax, [(r["N"] * r["H"], r["time_over_torch_cpu"]) for r in mine
                               if (r["model"], r["dtype"], r["pass"]) == (model, dtype, pass_)
                               and r.get("flagged")])
            handles = [Line2D([], [], color=f"C{k}", label=f"H={H}") for k, H in enumerate(Hs)]
            handles += [Line2D([], [], color="0.3", ls=styles[t % len(styles)], label=f"T={T}")
                        for t, T in enumerate(Ts)]
            ax.legend(handles=handles, fontsize=7, ncol=2)
    return _save(fig, path, f"scratchrnn: {CONVENTION}\n" + _subtitle(result))


def gflops_plot(result, path):
    """Achieved GFLOP/s against GFLOP per call, with the measured GEMM peaks as lines."""
    rows = _ok(result["rows"])
    peaks = result["gemm_peak"]
    fig, panels = _panels(rows)
    for ax, model, dtype, pass_, sel in panels:
        _scatter_per_impl(ax, sel, lambda r: r["gflops"])
        for dev, ls, label in (("cpu", "-", "CPU GEMM peak"), ("cuda", "--", "GPU GEMM peak")):
            p = peaks.get(dev, {}).get(dtype)
            if p and (dev == "cpu" or any(r["device"] not in (None, "cpu") for r in sel)):
                ax.axhline(p["gflops"], color="k", ls=ls, lw=1,
                           label=f"{label} {p['gflops']:.0f} GFLOP/s")
        _log_axes(ax)
        ax.set(xlabel="GEMM GFLOP per call", ylabel="GFLOP/s",
               title=f"{model} · {dtype} · {PASS_LABELS[pass_]}")
        ax.legend(fontsize=7)
    return _save(fig, path, "Achieved GFLOP/s (GEMMs only) against the GEMM peak measured in "
                 "the same run\n" + _subtitle(result))


def write_plots(result, out_dir, stem):
    """Writes STEM_time.png, STEM_ratio.png, STEM_ratio_all.png, STEM_gflops.png
    (those with data) into out_dir. Returns their paths."""
    if not _ok(result["rows"]):
        return []
    paths = [time_plot(result, os.path.join(out_dir, stem + "_time.png")),
             ratio_plot(result, os.path.join(out_dir, stem + "_ratio.png")),
             ratio_all_plot(result, os.path.join(out_dir, stem + "_ratio_all.png")),
             gflops_plot(result, os.path.join(out_dir, stem + "_gflops.png"))]
    return [p for p in paths if p]


if __name__ == "__main__":
    for json_path in sys.argv[1:]:
        with open(json_path) as f:
            res = json.load(f)
        folder, name = os.path.split(json_path)
        print("\n".join(write_plots(res, folder or ".", os.path.splitext(name)[0])))
