"""A grid's misses, each profiled stage by stage and sorted by what holds it back.

    python -m scratchrnn.bench.misses RUN/grid_cpu.json [--repeats 9] [--all] [--out FILE]

For every time-over-torch target the grid missed (``report.targets``; either dtype), this runs
the stage profile of ``python -m scratchrnn.bench.stages --torch`` at the point: one
forward+backward of the module with each compiled pass timed and its GEMM stages timed again
alone, torch CPU's forward+backward interleaved with the profiled calls. By default it leaves
out the misses beyond the grid's own bound, those whose GEMM FLOPs at the run's GEMM peak
alone take more than the target allows (only GEMMs faster than any measured could meet them);
``--all`` profiles them too.

Each miss is then put in one of two kinds:

- **GEMMs**: the GEMM stages alone (the input projection, the per-step products, the three
  gradient GEMMs), at the rates they ran at in the call, took the target's time or more. Gate
  maths, elementwise work and Python could all take no time and the point would still miss:
  only faster GEMMs at these shapes would meet it.
- **the rest**: the GEMM stages took less. The page gives what the target leaves the other
  stages (the target's time less the GEMM stages') against what they took: the gate maths and
  the backward's elementwise work, and everything outside the compiled passes (the NaN and inf
  scans, the weights laid out, BLAS held on one thread, Python and the output's copy).

The profile times torch again, so its ratio is not the grid's (torch's own time moves from
process to process): the kind is read from the profile's own ratios. Run it on the machine
that ran the grid; it needs torch.
"""

# -- configuration -----------------------------------------------------------
REPEATS = 9                # profiled calls per point (``stages.profile``), medians
# -----------------------------------------------------------------------------

import argparse
import importlib.util
import json
import os
import sys

from scratchrnn.bench import environment, report, stages
from scratchrnn.bench.spec import fmt_ratio

GEMM_STAGES = tuple(stages.gemm_gflops("rnn", 1, 1, 1))     # the stage names, in profile order
ELEMENTWISE = ("forward: gate maths", "backward: elementwise")
REST = "rest: "                                              # the stages outside the compiled passes


def misses(grid, everything=False):
    """The grid's missed time-over-torch targets (dicts of ``report.targets``), those beyond the
    GEMM-peak bound left out unless ``everything``."""
    return [t for t in report.targets(grid["rows"])
            if not t["ok"] and "floor" in t
            and (everything or t["floor"] is None or t["floor"] <= t["limit"])]


def sort(target, profiled):
    """The miss ``target`` with its profile ``profiled`` (``stages.profile`` with torch): the
    profile's ratio of totals (``ratio``), and each part over torch's time: ``gemms``,
    ``elementwise``, ``outside``; ``left``, what the target leaves the other two; ``kind``,
    "GEMMs" where ``gemms`` is at the target or above, else "the rest"."""
    torch_s = profiled[stages.TORCH]
    part = {name: sum(profiled[s] for s in names) / torch_s for name, names in
            (("gemms", GEMM_STAGES), ("elementwise", ELEMENTWISE),
             ("outside", [s for s in profiled if s.startswith(REST)]))}
    return dict(target, profiled=profiled, ratio=profiled["total"] / torch_s, **part,
                left=target["limit"] - part["gemms"],
                kind="GEMMs" if part["gemms"] >= target["limit"] else "the rest")


def markdown(grid, found, source, everything=False):
    """The page: the counts, a table of the misses, and each point's stage table (``source``:
    the grid's path, for the link)."""
    cpu, started = grid["environment"]["cpu"], grid["meta"]["started"]
    gemm_bound = sum(m["kind"] == "GEMMs" for m in found)
    lines = ["# Where the misses go: a stage profile of each", "",
             f"{cpu['model']}, {cpu['cpu_count']} cores, {cpu['isa']}; the misses of "
             f"[`{source}`]({source}) ({started})"
             + ("" if everything else ", but those beyond the GEMM-peak bound") + ", "
             "each profiled with torch CPU interleaved (`python -m scratchrnn.bench.misses`). "
             "Ratios are over torch's time in the profile, which is not the grid's.", "",
             f"**{gemm_bound} of the {len(found)} misses profiled: the GEMM stages alone, at the "
             f"rates they ran at, took the target's time or more** (kind \"GEMMs\"); at the other "
             f"{len(found) - gemm_bound}, \"left\" is what the target leaves the gate maths, the "
             f"elementwise work and all outside the compiled passes, which took \"elementwise\" "
             f"and \"outside\". The elementwise stages are the passes' time less their products "
             f"timed alone (`scratchrnn.bench.stages`): where the products alone took longer than "
             f"in the pass, they come out negative.", "",
             "| model | dtype | T | N | H | target | grid | at the GEMM peak | profile | GEMM stages "
             "| elementwise | outside | left | kind |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in found:
        lines.append(f"| {m['model']} | {m['dtype']} | {m['T']} | {m['N']} | {m['H']} | "
                     f"{fmt_ratio(m['limit'])} | {fmt_ratio(m['value'])}"
                     f"{report.FLAG if m['flagged'] else ''} | {fmt_ratio(m['floor'])} | "
                     f"{fmt_ratio(m['ratio'])} | {fmt_ratio(m['gemms'])} | "
                     f"{fmt_ratio(m['elementwise'])} | {fmt_ratio(m['outside'])} | "
                     f"{fmt_ratio(m['left']) if m['left'] > 0 else 'none'} | {m['kind']} |")
    lines.append("")
    for m in found:
        lines.append(stages.markdown(m["model"], m["T"], m["N"], m["H"], m["dtype"], m["profiled"]))
    return "\n".join(lines)


def load(path):
    """A saved grid (its JSON) with its rows and the machine's record; ValueError otherwise."""
    with open(path) as f:
        grid = json.load(f)
    try:
        grid["rows"], grid["environment"]["cpu"]["model"], grid["meta"]["started"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"expected a saved grid's JSON (scratchrnn bench), missing {e}") from None
    return grid


def _progress(items):
    """items in a tqdm progress bar (stderr) when tqdm is installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, unit="point", file=sys.stderr, dynamic_ncols=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scratchrnn.bench.misses",
                                description=__doc__.splitlines()[0])
    p.add_argument("grid", help="a grid's JSON (scratchrnn bench ... --impls scratchrnn torch_cpu)")
    p.add_argument("--repeats", type=int, default=REPEATS, help=f"profiled calls per point (default {REPEATS})")
    p.add_argument("--all", action="store_true",
                   help="also profile the misses beyond the GEMM-peak bound")
    p.add_argument("--out", help="also write the Markdown to this file")
    args = p.parse_args(argv)
    try:
        grid = load(args.grid)
    except (OSError, ValueError) as e:
        print(f"error: {args.grid}: {e}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("torch") is None:
        print("error: the profiles time torch CPU, which is not installed (pip install '.[torch]')",
              file=sys.stderr)
        return 2
    environment.give_torch_huge_pages()         # as the grid does, before torch is imported
    environment.keep_freed_memory()             # as the grid does
    found = [sort(t, stages.profile(t["model"], t["T"], t["N"], t["H"], t["dtype"], args.repeats,
                                    torch_side=True))
             for t in _progress(misses(grid, args.all))]
    # the link to the grid, from where the page is written (else its file name)
    source = os.path.relpath(args.grid, os.path.dirname(os.path.abspath(args.out))) if args.out \
        else os.path.basename(args.grid)
    page = markdown(grid, found, source, args.all)
    print(page)
    if args.out:
        with open(args.out, "w") as f:
            f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
