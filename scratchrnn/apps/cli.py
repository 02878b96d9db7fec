"""The ``scratchrnn`` command: ``verify`` (the main job), ``train``, ``generate``, ``gradflow``, ``bench``,
``golden`` and ``check``."""

import argparse
import json
import os
import sys
import time


def _verify(args):
    try:
        import torch  # noqa: F401  (the oracle)
    except ImportError:
        print("scratchrnn verify needs PyTorch as its oracle, and it is not installed.\n"
              "Install it with:  pip install 'scratchrnn[torch]'", file=sys.stderr)
        return 2
    from . import verify

    layers = tuple(range(1, args.max_layers + 1))
    configs = list(verify.matrix(models=args.models, layers=layers, dtypes=args.dtypes))
    t0 = time.perf_counter()
    results = verify.run(configs, fd=not args.no_fd, seed=args.seed)
    elapsed = time.perf_counter() - t0
    failed = [r for r in results if not r.ok]
    if args.failures_only:
        print(verify.table(failed) if failed else "")
    else:
        print(verify.table(results))
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed "
          f"({len(results)} configurations in {elapsed:.1f} s; float64 tolerance "
          f"{verify.TOL_F64:g} vs torch and {verify.FD_TOL:g} vs finite differences, "
          f"float32 torch.testing defaults)")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"elapsed_s": elapsed, "results": verify.to_json(results)}, f, indent=1)
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 1 if failed else 0


def _train(args):
    from .tasks import charlm, mnist, sine
    task = {"charlm": charlm, "mnist": mnist, "sine": sine}[args.task]
    if args.out is None:
        args.out = os.path.join("runs", f"{args.task}-{args.backend}-seed{args.seed}")
    if args.data_dir:
        os.environ["SCRATCHRNN_DATA"] = args.data_dir
    from .tasks.common import NonFiniteLoss
    try:
        task.run(args)
    except NonFiniteLoss as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, RuntimeError) as e:   # bad data or settings
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _bench(rest):
    from scratchrnn.bench import cli as bench_cli
    return bench_cli.main(rest)


def _generate(args):
    from .tasks import charlm
    print(charlm.generate_from_checkpoint(args.checkpoint, args.prefix, args.length,
                                          args.temperature, args.seed))
    return 0


def _gradflow(args):
    from . import gradflow
    from .tasks.common import require_extras
    require_extras()
    res = gradflow.run(T=args.T, N=args.batch, input_size=args.input_size, hidden=args.hidden,
                       layers=args.layers, seed=args.seed, forget_bias=args.forget_bias, out=args.out)
    for m, r in res.items():
        g = r["grad_norm"]
        print(f"{m:>7}: ‖∂L/∂h_t‖ top layer t=T {g[-1, -1]:.2e}, t=1 {g[-1, 0]:.2e}; "
              f"layer 0 t=1 {g[0, 0]:.2e}; mean step Jacobian norm {r['jacobian_norm'].mean():.3f}")
    print(f"wrote {args.out}/gradflow.png and gradflow.json")
    return 0


def _golden(args):
    from . import golden
    try:
        manifest = golden.write(args.out, seed=args.seed)
    except OSError as e:
        print(f"error: cannot write the suite to {args.out!r}: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(manifest['cases'])} cases and manifest.json to {args.out} "
          f"(format {golden.FORMAT} v{golden.VERSION}, seed {args.seed}, float64)")
    return 0


def _check(args):
    import numpy as np
    from . import check, golden
    from .check import report
    chosen = [(flag, v) for flag, v in (("TARGET", args.target), ("--torch", args.torch),
                                        ("--cs231n", args.cs231n)) if v]
    if len(chosen) != 1:
        got = "none" if not chosen else " and ".join(f for f, _ in chosen)
        print(f"error: expected exactly one of TARGET (package.module:name), --torch package.module:Class "
              f"or --cs231n package.module, got {got}", file=sys.stderr)
        return 2
    flag, value = chosen[0]
    try:
        make = {"TARGET": check.protocol_target, "--torch": check.torch_target, "--cs231n": check.cs231n_target}
        target = make[flag](value)
        cases = golden.load(args.suite) if args.suite else golden.generate(golden.DEFAULT_SEED)
    except (check.UsageError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.kind:
        cases = [c for c in cases if c.config["kind"] in args.kind]
    dtype = np.dtype(args.dtype)
    results = check.check(target, cases, dtype)
    if not results:
        print(f"error: no case of the suite applies to {target.label}", file=sys.stderr)
        return 2
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "error", "skip")}
    header = (f"scratchrnn check {target.label}: {len(results)} cases of the golden suite "
              f"({args.suite or 'generated, seed ' + str(golden.DEFAULT_SEED)}), {args.dtype}, "
              f"pass when max|got - expected| / max|expected| <= {check.tolerance(dtype):.1e}")
    print(report.table(results, target, header))
    print(f"\n{counts['pass']} passed, {counts['fail']} failed, {counts['error']} crashed, "
          f"{counts['skip']} skipped")
    if args.json:
        meta = {"dtype": args.dtype, "tolerance": check.tolerance(dtype), "suite": args.suite,
                "counts": counts}
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report.to_json(results, target, meta), f, indent=1)
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 1 if counts["fail"] or counts["error"] else 0


def build_parser():
    p = argparse.ArgumentParser(prog="scratchrnn", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("verify", help="compare every output and gradient with torch and "
                                      "finite differences; exit 1 on any failure")
    v.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    v.add_argument("--models", nargs="+", default=["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"],
                   choices=["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"])
    v.add_argument("--max-layers", type=int, default=3, choices=[1, 2, 3])
    v.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                   choices=["float32", "float64"])
    v.add_argument("--no-fd", action="store_true", help="skip the finite-difference oracle")
    v.add_argument("--failures-only", action="store_true", help="print only failing rows")
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(func=_verify)

    t = sub.add_parser("train", help="train a classic task: charlm, mnist or sine")
    tasks = t.add_subparsers(dest="task", required=True)
    from .tasks import charlm, mnist, sine
    for name, module, text in (("charlm", charlm, "character language model"),
                               ("mnist", mnist, "MNIST read row by row"),
                               ("sine", sine, "sin -> cos regression, state carried")):
        tp = tasks.add_parser(name, help=text, description=module.__doc__)
        module.add_arguments(tp)
        tp.add_argument("--backend", choices=["scratch", "torch"], default="scratch",
                        help="torch runs the torch_ref mirror on the same data and weights")
        tp.add_argument("--dtype", choices=["float32", "float64"], default="float32")
        tp.add_argument("--seed", type=int, default=0)
        tp.add_argument("--out", help="run folder (default runs/TASK-BACKEND-seedS)")
        tp.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
        tp.add_argument("--save-every", type=int, default=10, help="checkpoint every N epochs")
        tp.add_argument("--data-dir", help="data root (default: SCRATCHRNN_DATA)")
        tp.set_defaults(func=_train)

    gf = sub.add_parser("gradflow", help="plot ‖∂L/∂h_t‖ over time and the per-step Jacobian "
                                         "norms for the RNN, LSTM and GRU")
    gf.add_argument("--T", type=int, default=100, help="sequence length")
    gf.add_argument("--batch", type=int, default=8)
    gf.add_argument("--input-size", type=int, default=8)
    gf.add_argument("--hidden", type=int, default=32)
    gf.add_argument("--layers", type=int, default=2)
    gf.add_argument("--seed", type=int, default=0)
    gf.add_argument("--forget-bias", type=float, default=1.0,
                    help="also show the LSTM with its forget gate started at this bias")
    gf.add_argument("--out", default="runs/gradflow")
    gf.set_defaults(func=_gradflow)

    go = sub.add_parser("golden", help="write the float64 golden suite (.npz per case, manifest.json)")
    go.add_argument("--out", required=True, metavar="DIR")
    go.add_argument("--seed", type=int, default=0, help="the suite is reproducible bit for bit from it")
    go.set_defaults(func=_golden)

    ck = sub.add_parser("check", help="check someone else's RNN/LSTM/GRU against the golden suite; "
                                      "exit 1 with a diagnosis when it differs",
                        description="TARGET is package.module:name, a callable (config, arrays) -> dict "
                                    "(see docs/check.md); or use --torch or --cs231n.")
    ck.add_argument("target", nargs="?", metavar="TARGET")
    ck.add_argument("--torch", metavar="package.module:Class", help="a torch.nn.Module built like nn.LSTM")
    ck.add_argument("--cs231n", metavar="package.module", help="a module of CS231n's rnn_layers functions")
    ck.add_argument("--suite", metavar="DIR", help="a suite written by scratchrnn golden (default: "
                                                   "generated in memory from seed 0)")
    ck.add_argument("--json", metavar="PATH", help="write every result to this JSON file")
    ck.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                    help="float32: the inputs are rounded and the tolerance is float32's")
    ck.add_argument("--kind", nargs="+", choices=["rnn", "lstm", "gru", "softmax"],
                    help="only the cases of these kinds")
    ck.set_defaults(func=_check)

    b = sub.add_parser("bench", add_help=False,
                       help="time scratchrnn, torch CPU, torch_ref's loop (and torch on a GPU) "
                            "over a grid of sizes (arguments go to benchmarks/grid.py; try --help)")
    b.add_argument("rest", nargs=argparse.REMAINDER)     # main() hands these over untouched

    g = sub.add_parser("generate", help="text from a charlm checkpoint")
    g.add_argument("--checkpoint", required=True)
    g.add_argument("--prefix", required=True)
    g.add_argument("--length", type=int, default=100)
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    g.add_argument("--seed", type=int, default=None)
    g.set_defaults(func=_generate)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:              # everything after it belongs to benchmarks/grid.py
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
