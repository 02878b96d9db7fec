"""Numbers derived from a run's rows, and its Markdown: tables, targets, summary, machine.

Every ratio is time over torch CPU's (below 1: faster than torch CPU), printed with three
significant digits; every header names it. A row flagged by the guard (spread still wide,
samples kept on a busy machine) is marked ``†`` wherever it appears.
"""

import json
import math

from scratchrnn.bench import environment, peaks as peaks_mod, timing
from scratchrnn.bench.spec import (CONVENTION, IMPL_LABELS, MODELS, PASS_LABELS, RATIO,
                                   TARGET_PEAK_POINT, TARGET_RATIO_FLOAT64, TARGET_SMALL_WORK,
                                   TARGETS_FLOAT32, combos, flops, fmt_ratio, impls_in, key)

FLAG = "†"
BETWEEN_RUNS = "A run at another time can differ by more than this interval."
FLAG_NOTE = (f"{FLAG}: flagged: the spread of its samples stayed wide, or samples were kept "
             "while other processes were busy (the row's flags in the JSON say which).")


def interval_text(unit):
    """What the interval about a median of paired ratios is, for pairs called ``unit``
    (``rounds``, ``chunks``): a sentence's end, then a sentence."""
    return (f"an interval that holds the median such a ratio would have over many {unit} with a "
            f"probability of at least {timing.CONFIDENCE:.0%}, whatever the ratios' distribution, "
            f"if the {unit} are independent of one another: with 5 {unit} it runs from the least "
            f"ratio to the largest (probability 15/16), with 10 from the second least to the second "
            f"largest (0.979). This median is not the ratio of the two medians, and the two can differ.")


def annotate(rows, peaks):
    """Adds flops, gflops, peak_gflops, peak_fraction and time_over_torch_cpu to ok rows."""
    torch_cpu = {key(r): r["median_s"] for r in rows
                 if r["impl"] == "torch_cpu" and r["status"] == "ok"}
    for r in rows:
        r["flops"] = flops(r["model"], r["pass"], r["T"], r["N"], r["I"], r["H"])
        if r["status"] != "ok":
            continue
        r["gflops"] = r["flops"] / r["median_s"] / 1e9
        peak = peaks_mod.peak_for(peaks, r)
        r["peak_gflops"] = peak["gflops"] if peak else None
        r["peak_fraction"] = r["gflops"] / peak["gflops"] if peak else None
        t = torch_cpu.get(key(r))
        r["time_over_torch_cpu"] = r["median_s"] / t if t else None
    return rows


def ratio_limit(model, dtype, N, H):
    """(limit, label) of the ratio target at a forward+backward point (spec's TARGETS_*)."""
    if dtype == "float64":
        return TARGET_RATIO_FLOAT64, f"{RATIO} ≤ {TARGET_RATIO_FLOAT64}"
    small, everywhere, _ = TARGETS_FLOAT32[model]
    if N * H * H <= TARGET_SMALL_WORK:
        return small, f"{RATIO} ≤ {small} (N·H² ≤ {TARGET_SMALL_WORK})"
    return everywhere, f"{RATIO} ≤ {everywhere}"


def targets(rows):
    """The targets at the points that were run (scratchrnn vs torch_cpu, fwdbwd): one dict per
    (target, point) with the measured value, the limit and ok. A ratio target also gets
    ``torch_s``, torch CPU's median seconds at the point, and ``floor``, where the peak is known:
    the ratio scratchrnn would reach if all its GEMM FLOPs ran at the measured GEMM peak and
    nothing else took time. A target below its floor asks for more than this machine's GEMMs
    can give. And ``paired``: ``timing.paired_summary`` of the two rows' samples (the median of
    their ratios round by round and the interval about it) with ``within_noise`` True where the
    interval holds the limit; None where the rows kept no samples (older runs) or too few
    rounds."""
    ok = {(r["impl"], key(r)): r for r in rows if r["status"] == "ok"}
    out = []
    for (impl, k), r in ok.items():
        model, pass_, dtype, T, N, H = k
        if impl != "scratchrnn" or pass_ != "fwdbwd":
            continue
        point = dict(model=model, dtype=dtype, T=T, N=N, H=H, flagged=r.get("flagged", False))
        theirs = ok.get(("torch_cpu", k))
        if theirs is not None:
            ratio = r["median_s"] / theirs["median_s"]
            point["flagged"] = point["flagged"] or theirs.get("flagged", False)
            limit, label = ratio_limit(model, dtype, N, H)
            floor = (r["flops"] / (r["peak_gflops"] * 1e9) / theirs["median_s"]
                     if r.get("peak_gflops") else None)
            paired = timing.paired_summary(r.get("samples_s", []), theirs.get("samples_s", []))
            if paired:
                paired["within_noise"] = paired["low"] <= limit <= paired["high"]
            out.append(dict(point, target=label, value=ratio, limit=limit, ok=ratio <= limit,
                            torch_s=theirs["median_s"], floor=floor, paired=paired))
        if (dtype == "float32" and (T, N, H) == TARGET_PEAK_POINT
                and r.get("peak_fraction") is not None):
            frac, limit = r["peak_fraction"], TARGETS_FLOAT32[model][2]
            out.append(dict(point, target=f"≥ {limit:.0%} of the float32 GEMM peak",
                            value=frac, limit=limit, ok=frac >= limit))
    return out


def fmt_ms(s):
    return f"{s * 1e3:.3g}" if s * 1e3 < 100 else f"{s * 1e3:.0f}"


def mark(r):
    return FLAG if r.get("flagged") else ""


def load_grid(path):
    """A saved grid (``scratchrnn bench``'s JSON) with its rows and the machine's record (the CPU's
    model, cores and vector ISA, Numba's threads, when it started); ValueError otherwise."""
    with open(path) as f:
        grid = json.load(f)
    try:
        cpu = grid["environment"]["cpu"]           # each lookup raises where the record lacks it
        grid["rows"], cpu["model"], cpu["cpu_count"], cpu["isa"]
        grid["environment"]["numba"]["threads"], grid["meta"]["started"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"expected a saved grid's JSON (scratchrnn bench), missing {e}") from None
    return grid


def beyond_bound(t):
    """Whether ratio target ``t`` (``targets``) asks for less than its bound at the GEMM peak
    allows: only GEMMs faster than any measured could meet it. False where no peak is known."""
    return t.get("floor") is not None and t["floor"] > t["limit"]


def targets_section(rows):
    """The "Targets" section (Markdown lines) for these rows."""
    ts = targets(rows)
    lines = ["## Targets", "",
             f"scratchrnn against torch CPU, forward+backward, measured side by side in "
             f"this run; ratios are {CONVENTION}; only points that were run are listed. "
             f"float32: "
             + "; ".join(f"{m} ≤ {a}× where N·H² ≤ {TARGET_SMALL_WORK}, ≤ {b}× elsewhere, "
                         f"≥ {c:.0%} of the GEMM peak at T, N, H = "
                         f"{', '.join(map(str, TARGET_PEAK_POINT))}"
                         for m, (a, b, c) in TARGETS_FLOAT32.items())
             + f". float64: ≤ {TARGET_RATIO_FLOAT64}× everywhere.", ""]
    if not ts:
        return lines + ["No target point was run (they need fwdbwd rows of scratchrnn "
                        "and torch_cpu).", ""]
    passed = sum(t["ok"] for t in ts)
    beyond = [t for t in ts if not t["ok"] and beyond_bound(t)]
    lines += [f"**{passed} of {len(ts)} PASS.**", ""]
    if any(t.get("floor") is not None for t in ts):
        lines += [f"\"At the GEMM peak\": the ratio if every GEMM FLOP ran at this run's measured GEMM "
                  f"peak (its table names the product that reached it) and nothing else took time, "
                  f"a bound only products faster than any measured could beat. {len(beyond)} of the "
                  f"{len(ts) - passed} misses ask for less than that bound. \"Needs\": the GEMM FLOPs "
                  f"over the time the target allows, as a share of that peak: the whole call, gate "
                  f"maths and all, would have to run that fast (over 100 %: beyond the bound).", ""]
    any_paired = any(t.get("paired") for t in ts)      # else no column: older runs kept no samples
    lines += _noise_note(ts) if any_paired else []
    lines += [f"| target | model | dtype | T | N | H | measured ({RATIO} or % of peak) | "
              + ("paired rounds | " if any_paired else "") + "at the GEMM peak | needs | result |",
              "|---" * (10 + any_paired) + "|"]
    for t in ts:
        value = f"{t['value']:.0%}" if "peak" in t["target"] else fmt_ratio(t["value"])
        p = t.get("paired")
        paired = [fmt_interval(p["median"], p["low"], p["high"]) if p else ""] if any_paired else []
        floor = fmt_ratio(t["floor"]) if t.get("floor") is not None else ""
        needs = f"{t['floor'] / t['limit']:.0%}" if t.get("floor") is not None else ""
        result = ("PASS" if t["ok"] else "**MISS**") + _paired_verdict(t)
        cells = [t["target"], t["model"], t["dtype"], t["T"], t["N"], t["H"],
                 value + (FLAG if t["flagged"] else ""), *paired, floor, needs, result]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines + [""]


def fmt_interval(median, low, high):
    """A median ratio and the interval about it: ``0.85× (0.7× – 0.95×)``."""
    return f"{fmt_ratio(median)} ({fmt_ratio(low)} – {fmt_ratio(high)})"


def _paired_verdict(t):
    """", within noise" where the paired interval holds the limit; where it lies wholly on the
    other side of the limit than the ratio of the medians, what the paired rounds say."""
    p = t.get("paired")
    if not p:
        return ""
    if p["within_noise"]:
        return ", within noise"
    paired_ok = p["high"] < t["limit"]
    return "" if paired_ok == t["ok"] else f", paired rounds: {'PASS' if paired_ok else 'MISS'}"


def _noise_note(ts):
    """What the "paired rounds" column means, and how many results are within its noise."""
    paired = [t for t in ts if t.get("paired")]
    missed = [t for t in paired if not t["ok"]]
    noisy_missed = sum(t["paired"]["within_noise"] for t in missed)
    noisy_met = sum(t["paired"]["within_noise"] for t in paired) - noisy_missed
    return [f"\"Paired rounds\" (ratio targets; none for the share of the peak): the median, over "
            f"the rounds, of scratchrnn's sample over torch CPU's of the same round (taken one after "
            f"the other, seconds apart: what moves both, as the host's speed does, cancels), and in "
            f"brackets {interval_text('rounds')} Where the interval holds the limit, the result is "
            f"\"within noise\": another run may give the other verdict. Within noise here: "
            f"{noisy_missed} of the {len(missed)} missed ratio targets with paired rounds, "
            f"{noisy_met} of the {len(paired) - len(missed)} met ones. {BETWEEN_RUNS}", ""]


def results_tables(rows):
    """Per (dtype, pass): median ms with the ratio, then GFLOP/s with % of peak."""
    lines, impls = [], impls_in(rows)
    by = {(r["impl"], key(r)): r for r in rows}
    for dtype, pass_ in combos(rows):
        keys = sorted({key(r) for r in rows if r["dtype"] == dtype and r["pass"] == pass_},
                      key=lambda k: (MODELS.index(k[0]) if k[0] in MODELS else 9, k[3:]))
        head = "| model | T | N | H | GFLOP | " + " | ".join(IMPL_LABELS[i] for i in impls) + " |"
        rule = "|---" * (5 + len(impls)) + "|"
        lines += [f"### {dtype}, {PASS_LABELS[pass_]}", "",
                  f"Median ms per call ({CONVENTION}, in brackets; spread "
                  "(p90 − p10)/median after the ms):", "", head, rule]
        flop_rows = []
        for k in keys:
            cells, gcells = [], []
            for impl in impls:
                r = by.get((impl, k))
                if r is None:
                    cells.append(""), gcells.append("")
                elif r["status"] != "ok":
                    cells.append(r["status"]), gcells.append("")
                else:
                    ratio = r.get("time_over_torch_cpu")
                    star = "*" if not r.get("interleaved", True) else ""
                    cells.append(f"{fmt_ms(r['median_s'])}{star}{mark(r)} ±{r['spread']:.0%}"
                                 + (f" ({fmt_ratio(ratio)})" if ratio is not None
                                    and impl != "torch_cpu" else ""))
                    frac = r.get("peak_fraction")
                    gcells.append(f"{r['gflops']:.3g}{mark(r)}"
                                  + (f" ({frac:.0%})" if frac is not None else ""))
            f = flops(k[0], k[1], k[3], k[4], k[5], k[5]) / 1e9
            lines.append(f"| {k[0]} | {k[3]} | {k[4]} | {k[5]} | {f:.3g} | " + " | ".join(cells) + " |")
            flop_rows.append(f"| {k[0]} | {k[3]} | {k[4]} | {k[5]} | {f:.3g} | " + " | ".join(gcells) + " |")
        lines += ["", "Achieved GFLOP/s (fraction of the measured GEMM peak for the dtype and "
                      "device in brackets):", "", head, rule, *flop_rows, ""]
    return lines


def summary(rows, peaks, env):
    """The summary tables of a run: per (dtype, model), scratchrnn's ratio over the grid (forward
    +backward) and the % of peak at the peak target point; Markdown lines."""
    lines = [f"Measured on {environment.describe(env)}.", ""]
    for dtype, pass_ in [c for c in combos(rows) if c[1] == "fwdbwd"]:
        peak = peaks.get("cpu", {}).get(dtype)
        lines += [f"{dtype}, forward+backward: scratchrnn's {CONVENTION}"
                  + (f"; GEMM peak {peak['gflops']:.0f} GFLOP/s" if peak else "") + ".", "",
                  f"| model | geometric mean of {RATIO} | range | faster than torch CPU at | "
                  "% of GEMM peak at T=128 N=64 H=512 (torch CPU) | flagged rows |",
                  "|---|---|---|---|---|---|"]
        for impl in ("scratchrnn", "loop_cpu"):
            for model in MODELS:
                sel = [r for r in rows if r["impl"] == impl and r["model"] == model
                       and r["dtype"] == dtype and r["pass"] == pass_ and r["status"] == "ok"
                       and r.get("time_over_torch_cpu") is not None]
                if not sel:
                    continue
                ratios = [r["time_over_torch_cpu"] for r in sel]
                gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
                at = {(r["impl"], r["T"], r["N"], r["H"]): r for r in rows
                      if r["model"] == model and r["dtype"] == dtype and r["pass"] == pass_
                      and r["status"] == "ok"}
                mine, theirs = (at.get((i, *TARGET_PEAK_POINT)) for i in (impl, "torch_cpu"))
                frac = (f"{mine['peak_fraction']:.0%} ({theirs['peak_fraction']:.0%})"
                        if mine and theirs and mine.get("peak_fraction") is not None else "not run")
                name = model if impl == "scratchrnn" else f"{IMPL_LABELS[impl]} ({model})"
                lines.append(f"| {name} | **{fmt_ratio(gm)}** | {fmt_ratio(min(ratios))} – "
                             f"{fmt_ratio(max(ratios))} | {sum(x < 1 for x in ratios)} of "
                             f"{len(ratios)} points | {frac} | {sum(r.get('flagged', False) for r in sel)} |")
        lines.append("")
    return lines


def console_line(i, n, point, rows):
    """``[i/n] point: impl ms ±spread (ratio) ...``; ratios are time over torch CPU's."""
    parts = []
    for r in rows:
        if r["status"] != "ok":
            parts.append(f"{r['impl']} {r['status']}")
            continue
        ratio = r.get("time_over_torch_cpu")
        rej = f", {r['n_rejected']} rejected" if r.get("n_rejected") else ""
        parts.append(f"{r['impl']} {fmt_ms(r['median_s'])} ms ±{r['spread']:.0%}{rej}{mark(r)}"
                     + (f" ({fmt_ratio(ratio)})" if ratio is not None and r["impl"] != "torch_cpu" else ""))
    return f"[{i}/{n}] {point.label()} ({RATIO} in brackets): " + " · ".join(parts)
