"""The Markdown file of a run: machine, warnings, peaks, compile time, results, method."""

from scratchrnn.bench import report, timing
from scratchrnn.bench.spec import CONVENTION, IMPL_LABELS, RATIO, fmt_ratio


def machine_section(env):
    """The "Machine" section: CPU and ISA, cores, every BLAS library's kernel and threads,
    torch's CPU capability, huge pages, variables found, versions, and any forcing warning."""
    cpu, t = env["cpu"], env.get("torch")
    lines = ["## Machine", ""]
    for w in env.get("forcing") or []:
        lines.append(f"**Warning: {w}.**")
    if env.get("forcing"):
        lines.append("")
    lines += ["| | |", "|---|---|",
              f"| CPU | {cpu['model']}; vector ISA {cpu['isa']} ({' '.join(cpu['isa_flags'])}); "
              f"{cpu['usable_cpus']} of {cpu['cpu_count']} CPUs usable |"]
    for p in env.get("thread_pools") or []:
        lines.append(f"| {p['user_api']}: {p['prefix']} | {p['internal_api']} {p.get('version') or ''}"
                     f", kernel {p.get('architecture') or '-'}, {p['num_threads']} thread(s) |")
    if t:
        lines.append(f"| torch | {t['version']}, CPU capability {t['cpu_capability']}, "
                     f"{t['threads']} thread(s) (inter-op {t['interop_threads']}), MKL "
                     f"{t['mkl']}, oneDNN {t['mkldnn']} |")
    nb = env["numba"]
    lines.append(f"| Numba | {nb['threads']} thread(s), layer {nb['threading_layer']}, "
                 f"JIT {'off' if nb['disable_jit'] else 'on'} |")
    pages = env.get("huge_pages")
    if pages:                                        # (results from before it was recorded lack it)
        advice = {True: "advised", False: "not advised", None: "unknown"}
        torch_side = advice[pages["torch"]] if t else "not installed"
        lines.append(f"| huge pages | transparent huge pages: {pages['thp'] or 'unknown'}; a fresh 8 MiB "
                     f"buffer of NumPy {advice[pages['numpy']]}, of torch {torch_side} |")
    if env.get("malloc"):                            # (results from before it was recorded lack it)
        lines.append(f"| freed memory | {env['malloc']} |")
    var = ", ".join(f"{k}={v}" for k, v in env.get("variables", {}).items()) or "none set"
    lines.append(f"| variables | {var} |")
    lines.append("| versions | " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + " |")
    cuda = env.get("cuda")
    gpu = (f"{cuda['device_name']} (compute capability {cuda['capability']}, CUDA {cuda['cuda']}, "
           f"cuDNN {cuda['cudnn']})" if cuda else "no CUDA device")
    lines.append(f"| GPU | {gpu} |")
    tf32 = env.get("tf32")
    if tf32:
        lines.append(f"| TF32 | {'on' if tf32.get('requested') else 'off'} ("
                     + ", ".join(f"{k}={x}" for k, x in tf32.items() if k != "requested") + ") |")
    return lines + [""]


def guard_section(method):
    g = method["guard"]
    if not g["on"]:
        return ["## Load guard", "", f"**Off: {g['why']}.**", ""]
    return ["## Load guard", "",
            f"Each sample lasts at least {method['min_sample_s']} s (calls batched) and is taken "
            f"again (up to {method['max_retries']} times) when other processes used more than "
            f"{g['max_other_cores']} cores while it ran (busy CPU time from /proc/stat minus this "
            f"process's own, allowing CPUs + 1 jiffies of {g['jiffy_s'] * 1e3:.0f} ms for the counters' "
            "rounding). "
            f"{method['samples']} samples per point and implementation, up to "
            f"{method['extra_samples']} more while the spread (p90 − p10)/median exceeds "
            f"{method['max_spread']:.0%}. Before each point the harness waits for a quiet "
            "machine (bounded).", ""]


def peaks_section(peaks):
    lines = ["## GEMM peak, measured in this run", "",
             "| device | dtype | GFLOP/s (all threads) | via | n | 1 thread GFLOP/s |",
             "|---|---|---|---|---|---|"]
    notes = []
    for dev in ("cpu", "cuda"):
        for dtype, p in peaks.get(dev, {}).items():
            lines.append(f"| {dev} | {dtype} | {p['gflops']:.1f} | {p['via']} | {p.get('n', '')} | "
                         f"{p.get('one_thread_gflops', float('nan')):.1f} |")
            notes += p.get("notes", [])
            for lib, rec in p.get("by_library", {}).items():
                lines.append(f"| | | {rec['gflops']:.1f} | {lib} | {rec['n']} | |")
    lines.append("")
    if notes:
        lines += ["Peak checks in this run:", ""] + [f"- {n}" for n in notes] + [""]
    return lines


def markdown(result):
    """The Markdown report of a grid run (the dict that is also written as JSON)."""
    meta, env, rows = result["meta"], result["environment"], result["rows"]
    lines = [f"# Grid benchmark `{meta['name']}`", "",
             f"{meta['started']}, {meta['wall_s'] / 60:.1f} min; `{meta['command']}`; "
             f"{meta['n_points']} grid points. Ratios: {CONVENTION}.", ""]
    if meta.get("interrupted"):
        lines += ["**Interrupted: only the points finished before the interruption are here.**", ""]
    flagged = [r for r in rows if r.get("flagged")]
    if flagged:
        lines += [f"**{len(flagged)} of {len(rows)} rows flagged ({report.FLAG}).**", ""]
    lines += report.targets_section(rows)
    lines += ["## Summary", ""] + report.summary(rows, result["gemm_peak"], env)
    lines += machine_section(env) + guard_section(meta["method"])
    lines += peaks_section(result["gemm_peak"])
    comp = result.get("compile_s")
    lines += ["## Numba compile time", ""]
    if comp:
        lines += ["First forward and backward in a fresh process with an empty Numba cache "
                  "(the first entry also compiles the shared helpers):", "",
                  "| model/dtype | forward s | backward s |", "|---|---|---|"]
        lines += [f"| {k} | {c['forward_s']:.2f} | {c['backward_s']:.2f} |" for k, c in comp.items()]
    else:
        lines += ["Not measured in this run."]
    lines += ["", "## Results", "",
              "`*`: scratchrnn no-JIT runs in a separate process after the others, so its times are "
              "not interleaved with theirs. " + report.FLAG_NOTE + " GFLOP counts only the GEMMs "
              "(fwd 2·T·N·(I+H)·G·H, fwd+bwd 3×).", ""]
    lines += report.results_tables(rows)
    skipped = [r for r in rows if r["status"] != "ok"]
    lines += ["## Skipped, failed and flagged", ""]
    for impl, reason in result.get("skipped_impls", {}).items():
        lines.append(f"- {IMPL_LABELS[impl]}: every point skipped: {reason}")
    for r in skipped:
        lines.append(f"- {IMPL_LABELS[r['impl']]} {r['model']} {r['pass']} {r['dtype']} "
                     f"T={r['T']} N={r['N']} H={r['H']}: {r['status']}: {r['reason']}")
    for r in flagged:
        lines.append(f"- {report.FLAG} {IMPL_LABELS[r['impl']]} {r['model']} {r['pass']} "
                     f"{r['dtype']} T={r['T']} N={r['N']} H={r['H']}: {'; '.join(r['flags'])}")
    if not skipped and not flagged and not result.get("skipped_impls"):
        lines.append("Nothing.")
    lines += ["", "## Method", "",
              "Per point, every in-process implementation is built from the same weights and input, "
              "warmed up, then timed in interleaved guarded samples with a pause between them; "
              "medians of the samples' per-call times. GPU work is timed with CUDA events after "
              f"synchronising. T > {min(meta['grid']['T'])} runs only where N·H ≤ "
              f"{meta['grid']['long_t_max_nh'] or '∞'}. The no-JIT budget is {meta['nojit_max_s']} s "
              "per call. See `python -m scratchrnn.bench --help` and the scratchrnn.bench modules.", ""]
    return "\n".join(lines) + "\n"


def train_markdown(result):
    """The Markdown report of a training-time run."""
    meta, env, rows = result["meta"], result["environment"], result["rows"]
    lines = [f"# Training time `{meta['name']}`", "",
             f"{meta['started']}, {meta['wall_s'] / 60:.1f} min; `{meta['command']}`. One epoch of "
             f"each task on both backends, in the same run on the same machine and threads; "
             f"ratios: {CONVENTION}.", ""]
    if any(r["limited"] for r in rows):
        lines += ["**Shortened epochs (--limit): not the tutorial's full epoch.**", ""]
    lines += train_table(rows) + [report.FLAG_NOTE, ""]
    lines += machine_section(env) + guard_section(meta["method"])
    lines += ["## Method", "", meta["method_text"], ""]
    return "\n".join(lines) + "\n"


def train_table(rows):
    """| task | settings | batches | epochs timed | scratchrnn s/epoch | torch CPU s/epoch | ratio
    | paired chunks |, and what the last column means."""
    lines = [f"| task | settings | batches per epoch | epochs timed | scratchrnn s/epoch | "
             f"torch CPU s/epoch | {RATIO} | paired chunks |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, t = r["scratchrnn"], r["torch_cpu"]
        cell = lambda x: (f"{x['epoch_s']:.2f} ±{x['spread']:.0%}"          # noqa: E731
                          + (f", {x['n_rejected']} rejected" if x["n_rejected"] else "")
                          + (report.FLAG if x["flagged"] else ""))
        p = timing.paired_summary(s.get("samples_s", []), t.get("samples_s", []))
        paired = report.fmt_interval(p["median"], p["low"], p["high"]) if p else ""
        lines.append(f"| {r['task']} | {r['settings']} | {s['batches']} | {s.get('epochs', 1)} | {cell(s)} | "
                     f"{cell(t)} | "
                     f"**{fmt_ratio(r['time_over_torch_cpu'])}** | {paired} |")
    return lines + ["", "\"Paired chunks\": the median, over the chunks, of scratchrnn's seconds per "
                        "batch over torch CPU's on the same batches, timed one after the other, and "
                        f"in brackets {report.interval_text('chunks')} Empty where the chunks were too "
                        "few. " + report.BETWEEN_RUNS, ""]
