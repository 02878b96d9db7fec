"""A grid's misses, each profiled stage by stage and classified by what holds it back.

    python -m scratchrnn.bench.misses RUN/grid_cpu.json [--repeats 9] [--all] [--out FILE.md]
    python -m scratchrnn.bench.misses --again RUN/misses_cpu.json [--out FILE.md]

For every time-over-torch target the grid missed (``report.targets``; either dtype), this runs
the stage profile of ``python -m scratchrnn.bench.stages --torch`` at the point: one
forward+backward of the module with each compiled pass timed and its GEMM stages timed again
alone, torch CPU's forward+backward interleaved with the profiled calls. By default it leaves
out the misses beyond their bound at the GEMM peak (``report.beyond_bound``: every GEMM FLOP at
the run's measured GEMM peak would already take more than the target's time, so only GEMMs
faster than any measured could meet them); ``--all`` profiles them too.

The same GEMM stages' products are then run through torch's matmul
(``scratchrnn.bench.torch_gemms``: the same shapes, torch on its CPU threads, each weight
gradient one GEMM over all rows where ours sums it in chunks), to see whether another library on
the machine runs them faster.

The GEMM stages (``stages.GEMM_STAGES``: the input projection, the per-step products, and the
three gradient GEMMs with the bias sums) are set against the target twice: over torch's
time in the profile, and over torch's time in the grid, as torch's own time moves from process
to process (by up to twice on the 2-core machines these were measured on). Each miss is of one
of five kinds:

- **GEMMs**: over both torch times, the GEMM stages alone took the target's time or more, at
  the rates they ran at in the call and with each stage at the faster of that and torch's
  matmul: gate maths, elementwise work and Python could take no time and the point would still
  miss, and neither library, as measured, runs these products fast enough at these shapes to
  meet it.
- **torch's GEMMs faster**: the GEMM stages alone took the target's time or more over both,
  but with torch's matmul time at the stages where it was faster they would take less, over at
  least one torch time: GEMMs as fast as torch's there would leave the other stages some time
  (not necessarily enough). Where the two torch times disagree on this alone, the miss is of
  this kind, not undecided: that the GEMM stages as they ran hold it back is settled over both,
  and "GEMMs" claims more, that no faster GEMM was found, which one torch time suffices to deny.
- **other stages**: over both, the GEMM stages took less. The page gives what the target leaves
  the other stages ("left": the target less the GEMM stages, over the profile's torch time)
  against what they took: the time loops' gate maths and elementwise work ("elementwise"), and
  everything outside the compiled passes ("outside": the NaN and inf scans, the weights laid
  out, BLAS held on one thread, Python and the output's copy).
- **undecided**: the two torch times give different answers.
- **met in the profile**: the profile's own time over torch's met the target.

Whatever the kind, the page also gives what the GEMM stages would need ("GEMMs need", over each
torch time): the share of the grid's GEMM peak they would have to run at for the call to meet
its target with every other stage taking as long as in the profile (the target's time less
those stages, against the GEMM FLOPs at the peak, ``floor``); ∞ where the other stages alone took
the target's time. Above 100 %, no GEMM as fast as the measured peak meets the target unless
the other stages get faster.

The page lists the misses, then each point's stage table; with ``--out`` the profiles are also
written beside it as JSON (the same name, ``.json``). Run it on the machine that ran the grid;
it needs torch. ``--again`` writes the page once more from such a JSON, with the profiles it
holds and this version's classification, without profiling (nor torch).
"""

# -- configuration -----------------------------------------------------------
REPEATS = 9                # profiled calls per point (``stages.profile``), medians
# -----------------------------------------------------------------------------

import argparse
import importlib.util
import json
import os
import sys

from scratchrnn.bench import environment, report, stages, torch_gemms
from scratchrnn.bench.grid import progress
from scratchrnn.bench.spec import fmt_ratio

KINDS = ("GEMMs", "torch's GEMMs faster", "other stages", "undecided", "met in the profile")   # the docstring


def misses(grid, everything=False):
    """The grid's missed time-over-torch targets (dicts of ``report.targets``, with torch CPU's
    time in the grid, ``torch_s``); those beyond their GEMM-peak bound left out unless
    ``everything``."""
    return [t for t in report.targets(grid["rows"])
            if not t["ok"] and "floor" in t and (everything or not report.beyond_bound(t))]


def classify(miss, profiled, torch_stages):
    """The miss (from ``misses``) with its profile (``stages.profile`` with torch), torch's
    matmul on its GEMM stages (``torch_gemms.gemm_stages``) and, over the profile's torch time,
    ``ratio`` (the totals'), ``gemms``, ``elementwise``, ``outside`` (``stages.seconds``),
    ``left`` (the target less ``gemms``) and ``best`` (the GEMM stages each at the faster of
    the two, ``torch_gemms.best_seconds``); ``gemms_grid`` and ``best_grid``, the same over the
    grid's torch time; ``torch_moved``, the profile's torch time over the grid's; and ``kind``
    (the module's docstring)."""
    torch_s, limit = profiled[stages.TORCH], miss["limit"]
    parts = {kind: stages.seconds(profiled, kind) / torch_s
             for kind in ("gemms", "elementwise", "outside")}
    gemms_grid = stages.seconds(profiled, "gemms") / miss["torch_s"]
    best_s = torch_gemms.best_seconds(profiled, torch_stages)
    ratio = profiled["total"] / torch_s
    if ratio <= limit:
        kind = "met in the profile"
    elif (parts["gemms"] >= limit) != (gemms_grid >= limit):
        kind = "undecided"
    elif gemms_grid < limit:
        kind = "other stages"
    elif min(best_s / torch_s, best_s / miss["torch_s"]) < limit:
        kind = "torch's GEMMs faster"
    else:
        kind = "GEMMs"
    others_s = profiled["total"] - stages.seconds(profiled, "gemms")
    return dict(miss, profiled=profiled, torch_stages=torch_stages, ratio=ratio, **parts,
                left=limit - parts["gemms"], best=best_s / torch_s, gemms_grid=gemms_grid,
                best_grid=best_s / miss["torch_s"], torch_moved=torch_s / miss["torch_s"], kind=kind,
                need=_need(miss, others_s, torch_s), need_grid=_need(miss, others_s, miss["torch_s"]))


def _need(miss, others_s, torch_s):
    """The share of the GEMM peak at which the miss's GEMM stages would meet its target over
    ``torch_s`` with the other stages taking ``others_s``: inf where the other stages alone take
    the target's time, None where the grid knows no peak (no ``floor``)."""
    if miss.get("floor") is None:
        return None
    at_peak_s = miss["floor"] * miss["torch_s"]      # the GEMM FLOPs at the peak
    allowed_s = miss["limit"] * torch_s - others_s
    return at_peak_s / allowed_s if allowed_s > 0 else float("inf")



def markdown(grid, found, source, everything=False):
    """The page: the counts, a table of the misses, and each point's stage table (``source``:
    the grid's path, for the link)."""
    cpu, started = grid["environment"]["cpu"], grid["meta"]["started"]
    which = "every miss" if everything else \
        "the misses whose bound at the GEMM peak is within the target"
    lines = ["# Where the misses go: a stage profile of each", "",
             f"{cpu['model']}, {cpu['cpu_count']} cores, {cpu['isa']}; {which} of "
             f"[`{source}`]({source}) ({started}), each profiled with torch CPU interleaved and its "
             f"GEMM stages run through torch's matmul (`python -m scratchrnn.bench.misses`).", ""]
    if not found:
        return "\n".join(lines + ["No miss to profile.", ""])
    counts = {kind: sum(m["kind"] == kind for m in found) for kind in KINDS}
    lines += [f"**{len(found)} misses profiled: "
              + ", ".join(f"{n} {kind}" for kind, n in counts.items())
              + ".** \"GEMMs\": the GEMM stages alone took the target's time or more over both torch "
              "CPU's time in the profile and its time in the grid, even with each stage at the faster "
              "of our time and torch's matmul's on the same products (\"faster of the two\", "
              "`scratchrnn.bench.torch_gemms`, whose weight gradients are one GEMM each where ours "
              "are summed in chunks); \"torch's GEMMs faster\": they took it with "
              "ours, but at the faster of the two they would not, over at least one torch time; \"other "
              "stages\": the GEMM stages took less over both, and \"left\", what the target leaves "
              "the rest of the call, is less than what the time loops' elementwise work "
              "(\"elementwise\") and everything outside the compiled passes (\"outside\") took; "
              "\"undecided\": the two torch times disagree.", "",
              "\"grid\" and \"at the GEMM peak\" (every GEMM FLOP at the run's GEMM peak) are over "
              "torch's time in the grid, as are \"GEMM stages (grid)\" and \"faster of the two "
              "(grid)\"; the other ratios are over "
              "torch's time in the profile (\"torch moved\": that time over the grid's). The "
              "elementwise stages are the passes' time less their products timed alone "
              "(`scratchrnn.bench.stages`): where the products alone took longer than in the pass, "
              "they come out negative.", "",
              "\"GEMMs need\" (over the profile's torch time) and \"GEMMs need (grid)\": the share of "
              "the GEMM peak the GEMM stages would have to run at for the call to meet its target with "
              "every other stage as long as in the profile; ∞: the other stages alone took the target's "
              f"time. {_beyond_count(found)}", "",
              "| model | dtype | T | N | H | target | grid | at the GEMM peak | torch moved | profile "
              "| GEMM stages | GEMM stages (grid) | faster of the two | faster of the two (grid) "
              "| elementwise | outside | left | GEMMs need | GEMMs need (grid) | kind |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in found:
        ratios = (m["limit"], m["value"], m["floor"], m["torch_moved"], m["ratio"], m["gemms"],
                  m["gemms_grid"], m["best"], m["best_grid"], m["elementwise"], m["outside"])
        cells = [fmt_ratio(r) for r in ratios]
        cells[1] += report.FLAG if m["flagged"] else ""
        left = fmt_ratio(m["left"]) if m["left"] > 0 else "none"
        lines.append(f"| {m['model']} | {m['dtype']} | {m['T']} | {m['N']} | {m['H']} | "
                     + " | ".join(cells) + f" | {left} | {_share(m.get('need'))} "
                     f"| {_share(m.get('need_grid'))} | {m['kind']} |")
    if any(m["flagged"] for m in found):
        lines += ["", report.FLAG_NOTE]
    lines.append("")
    for m in found:
        point = (m["model"], m["T"], m["N"], m["H"])
        lines += [stages.markdown(*point, m["dtype"], m["profiled"]),
                  torch_gemms.markdown_line(*point, m["profiled"], m["torch_stages"]), ""]
    return "\n".join(lines)


def _share(need):
    """A "GEMMs need" cell: a share of the peak, ∞, or empty where no peak is known."""
    return "" if need is None else "∞" if need == float("inf") else f"{need:.0%}"


def _beyond_count(found):
    """The sentence counting the misses whose GEMM stages would need more than the peak."""
    known = [m for m in found if m.get("need") is not None]
    beyond = sum(m["need"] > 1 and m["need_grid"] > 1 for m in known)
    return (f"With every other stage as profiled, {beyond} of the {len(known)} misses whose peak is "
            "known would need their GEMM stages faster than the GEMM peak over both torch times.")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scratchrnn.bench.misses",
                                description=__doc__.splitlines()[0])
    p.add_argument("grid", nargs="?", help="a grid's JSON (scratchrnn bench ... --impls scratchrnn torch_cpu)")
    p.add_argument("--again", metavar="MISSES.json",
                   help="instead of a grid: the JSON an earlier run wrote beside its page; writes the "
                        "page again from the profiles it holds, without profiling")
    p.add_argument("--repeats", type=int, default=None,
                   help=f"profiled calls per point, and runs of each GEMM stage through torch's "
                        f"matmul (default {REPEATS})")
    p.add_argument("--all", action="store_true",
                   help="also profile the misses beyond their bound at the GEMM peak")
    p.add_argument("--out", help="also write the Markdown to this file, and the profiles beside it (.json)")
    args = p.parse_args(argv)
    if (args.grid is None) == (args.again is None):
        p.error("expected a grid's JSON or --again MISSES.json (one of the two)")
    if args.again is not None and (args.all or args.repeats is not None):
        p.error("--all and --repeats choose what to profile; --again profiles nothing")
    repeats = REPEATS if args.repeats is None else args.repeats
    folder = os.path.dirname(os.path.abspath(args.out)) if args.out else None
    if folder is not None and not os.path.isdir(folder):     # found now, not after the profiles
        print(f"error: --out {args.out}: no folder {folder}", file=sys.stderr)
        return 2
    if args.again is not None:
        try:
            grid_path, stored = _stored(args.again)
            grid = report.load_grid(grid_path)
        except (OSError, ValueError) as e:
            print(f"error: --again {args.again}: {e}", file=sys.stderr)
            return 2
        found = [classify(m, m["profiled"], m["torch_stages"]) for m in stored]
        return _write(grid, found, grid_path, folder, args.out,
                      everything=any(report.beyond_bound(m) for m in found))
    try:
        grid = report.load_grid(args.grid)
    except (OSError, ValueError) as e:
        print(f"error: {args.grid}: {e}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("torch") is None:
        print("error: the profiles time torch CPU, which is not installed (pip install '.[torch]')",
              file=sys.stderr)
        return 2
    environment.give_torch_huge_pages()         # as the grid does, before torch is imported
    environment.keep_freed_memory()             # as the grid does
    points, _ = progress(misses(grid, args.all))
    found = []
    for m in points:
        point = (m["model"], m["T"], m["N"], m["H"], m["dtype"])
        profiled = stages.profile(*point, repeats, torch_side=True)
        found.append(classify(m, profiled, torch_gemms.gemm_stages(*point, repeats)))
    return _write(grid, found, args.grid, folder, args.out, args.all)


def _stored(path):
    """(the grid's path, the misses with their profiles) from the JSON a run wrote beside its
    page; the grid's path there is relative to that JSON's folder."""
    with open(path) as f:
        stored = json.load(f)
    keys = ("model", "dtype", "T", "N", "H", "flagged", "value", "limit", "torch_s", "floor", "profiled",
            "torch_stages")
    if (not isinstance(stored, dict) or not isinstance(stored.get("grid"), str)
            or not isinstance(stored.get("misses"), list)
            or not all(isinstance(m, dict) and all(k in m for k in keys) and isinstance(m["profiled"], dict)
                       and all(k in m["profiled"] for k in ("total", stages.TORCH, *stages.GEMM_STAGES))
                       for m in stored["misses"])):
        raise ValueError("expected the JSON a run of this tool wrote beside its page (--out): "
                         "{\"grid\": path, \"misses\": [each with its profile]}")
    return (os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), stored["grid"])),
            stored["misses"])


def _write(grid, found, grid_path, folder, out, everything):
    """Print the page and, with ``out``, write it there and the profiles beside it (.json); the
    link to the grid goes from where the page is written (else its path as given)."""
    source = os.path.relpath(grid_path, folder) if folder else grid_path
    page = markdown(grid, found, source, everything)
    print(page)
    if out:
        with open(out, "w") as f:
            f.write(page)
        with open(os.path.splitext(out)[0] + ".json", "w") as f:       # strict JSON: ∞ as "inf"
            json.dump({"grid": source, "misses": [dict(m, **{k: "inf" for k in ("need", "need_grid")
                                                             if m.get(k) == float("inf")})
                                                  for m in found]}, f, indent=1, allow_nan=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
