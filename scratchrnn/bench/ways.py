"""Two ways of running one model, timed side by side: what ``scratchrnn.bench.directions``,
``scratchrnn.bench.pieces``, ``scratchrnn.bench.groups`` and ``scratchrnn.bench.one_hot`` share.

Each of them picks a way with a context manager (``way(name)``, made by ``threshold_way`` for
a rule with a threshold), or with the input (``one_hot``), and times a one-layer model's
forward+backward both ways at every point of a grid; ``way_impl`` builds one way as an
``Impl``, ``time_both`` times them and checks that they agree (``time_impls`` for two ways
built already), ``cell`` and ``FLAG_NOTE`` write their times in a table, ``main`` runs the grid
from the command line and writes the Markdown table and JSON rows.
"""

import argparse
import itertools
import json
from contextlib import contextmanager

import numpy as np

from scratchrnn.bench import environment, impls, measure, report, timing

FLAG_NOTE = f"{report.FLAG} flagged: spread over 10 %, or samples kept while the machine was busy."


def threshold_way(module, attrs, on):
    """``way(name)`` for a rule that picks a way from thresholds, ``module``'s attributes named
    in ``attrs``: inside ``way(on)`` each is 0, inside the other way infinity (the rule's other
    conditions still hold); restored after."""
    @contextmanager
    def way(name):
        saved = {a: getattr(module, a) for a in attrs}
        for a in attrs:
            setattr(module, a, 0 if name == on else float("inf"))
        try:
            yield
        finally:
            for a, v in saved.items():
                setattr(module, a, v)
    return way


def way_impl(name, way, m, x, d_out):
    """m's forward+backward run inside ``way(name)`` as an Impl named ``name``, whose output is
    out and dx, flat, for the check that both ways agree."""
    def call():
        with way(name):
            out, _ = m(x)
            dx, _ = m.backward(d_out)                    # grads accumulate, as in the grid
        return np.concatenate([out.ravel(), dx.ravel()])
    return impls.Impl(name, "cpu", call, timing.wall_timer, np.asarray)


def cell(summary):
    """A timing summary as a table cell: median ms ±spread, flagged where it is."""
    flag = f" {report.FLAG}" if summary["flagged"] else ""
    return f"{report.fmt_ms(summary['median_s'])} ±{summary['spread']:.0%}{flag}"


def time_both(row, m, x, d_out, way, names, agree, settings):
    """Time m's forward+backward both ways (``names``: the first is the baseline) in interleaved
    guarded samples; check that their out and dx agree to ``agree`` of their largest value; add
    to ``row`` (which names the point: model, T, N, H) the largest difference ("max_diff"), each
    way's timing summary and "ratio", the second's median time over the first's. Returns row."""
    return time_impls(row, {w: way_impl(w, way, m, x, d_out) for w in names}, names, agree, settings)


def time_impls(row, built, names, agree, settings):
    """``time_both`` for two ``Impl``s built already (``built``: name -> Impl), whose outputs are
    compared."""
    where = f"{row['model']} T={row['T']} N={row['N']} H={row['H']}"
    timing.wait_quiet(settings.guard)
    res = measure.measure(built, settings)
    for w in names:
        if "error" in res[w]:
            raise RuntimeError(f"{where}, {w}: {res[w]['error']}")
    a, b = (res[w]["output"] for w in names)
    row["max_diff"] = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
    if row["max_diff"] > agree:
        raise AssertionError(f"{where}: the two ways' outputs or dx differ by "
                             f"{row['max_diff']:.2g} of their largest value (more than {agree:g})")
    for w in names:
        row[w] = timing.summarise(res[w]["samples"], settings.max_spread)
    row["ratio"] = row[names[1]]["median_s"] / row[names[0]]["median_s"]
    return row


def main(argv, doc, defaults, measure_point, to_markdown, untimed):
    """The command line: ``--models --T --N --H`` (``defaults``: a dict of those four) and
    ``--out``; ``measure_point(model, T, N, H, settings)`` gives a row, with a "ratio" where
    both ways were timed, else ``untimed`` is printed for it; ``to_markdown(rows, machine)``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=defaults["models"], default=list(defaults["models"]))
    for name in ("T", "N", "H"):
        parser.add_argument(f"--{name}", nargs="+", type=int, default=list(defaults[name]))
    parser.add_argument("--out", help="also write the Markdown table to this file, and the rows "
                                      "as JSON beside it (.json)")
    args = parser.parse_args(argv)
    settings = measure.Settings(timing.Guard())
    machine = environment.describe(environment.environment())
    rows = []
    for model, T, N, H in itertools.product(args.models, args.T, args.N, args.H):
        rows.append(measure_point(model, T, N, H, settings))
        r = rows[-1]
        print(f"{model} T={T} N={N} H={H}: " + (f"ratio {r['ratio']:.3f}" if "ratio" in r else untimed),
              flush=True)
    text = to_markdown(rows, machine)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        with open(args.out.rsplit(".", 1)[0] + ".json", "w") as f:
            json.dump({"machine": machine, "rows": rows}, f, indent=1)
