"""The ``scratchrnn`` command: ``verify`` (the main job), ``train``, ``generate``, ``gradflow``, ``bench``,
``golden`` and ``check``."""

import argparse
import json
import os
import shlex
import signal
import sys
import time


def _verify(args):
    try:
        import torch  # the oracle
    except ImportError:
        print("scratchrnn verify needs PyTorch as its oracle, and it is not installed.\n"
              "Install it with:  pip install 'scratchrnn[torch]'", file=sys.stderr)
        return 2
    from . import verify

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: torch sees no CUDA device here (torch "
              f"{torch.__version__}, CUDA build {torch.version.cuda}); use --device cpu",
              file=sys.stderr)
        return 2
    device = _torch_device_name(torch, args.device)
    layers = tuple(range(1, args.max_layers + 1))
    configs = list(verify.matrix(models=args.models, layers=layers, dtypes=args.dtypes))
    t0 = time.perf_counter()
    results = verify.run(configs, fd=not args.no_fd, seed=args.seed, device=args.device)
    elapsed = time.perf_counter() - t0
    failed = [r for r in results if not r.ok]
    if args.failures_only:
        print(verify.table(failed) if failed else "")
    else:
        print(verify.table(results))
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed "
          f"({len(results)} configurations in {elapsed:.1f} s; float64 tolerance "
          f"{verify.TOL_F64:g} vs torch and {verify.FD_TOL:g} vs finite differences, "
          f"float32 torch.testing defaults; torch on {device})")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"elapsed_s": elapsed, "device": device,
                       "results": verify.to_json(results)}, f, indent=1)
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 1 if failed else 0


def _torch_device_name(torch, device):
    """What ran torch's side: "cpu", or "cuda: NVIDIA H200 (torch 2.x, CUDA 13.0, cuDNN 91000)"."""
    if device == "cpu":
        return "cpu"
    from scratchrnn.bench.environment import cuda_info
    gpu = cuda_info()
    return (f"cuda: {gpu['device_name']} (torch {torch.__version__}, CUDA {gpu['cuda']}, "
            f"cuDNN {gpu['cudnn']})")


def _train(args):
    from .tasks import charlm, mnist, sine
    from .tasks.checkpoint import Diverged
    from .tasks.interrupt import Interrupted
    task = {"charlm": charlm, "mnist": mnist, "sine": sine}[args.task]
    try:
        task.run(args)
    except Diverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        name = signal.Signals(e.signum).name
        if e.saved:
            again = [a for a in args.argv if a != "--force"]
            again += [] if "--resume" in again else ["--resume"]
            if "--out" not in again:
                again += ["--out", args.out]
            print(f"stopped by {name}: saved {e.saved} ({e.where}); continue with: "
                  f"scratchrnn {shlex.join(again)}", file=sys.stderr)
        else:
            print(f"stopped by a second {name} before saving; the last checkpoint in "
                  f"{args.out} is kept", file=sys.stderr)
        return e.exit_code
    except (ValueError, OSError, RuntimeError) as e:   # bad data, files or settings
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _bench(rest):
    from scratchrnn.bench import cli as bench_cli
    return bench_cli.main(rest)


def _generate(args):
    from .tasks import charlm
    try:
        text = charlm.generate_from_checkpoint(args.checkpoint, args.prefix, args.length,
                                               args.temperature, args.seed)
    except ValueError as e:                  # unreadable or foreign checkpoint, unknown characters
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text)
    return 0


def _gradflow(args):
    from . import gradflow
    from .tasks.common import UsageError, require_extras
    try:
        require_extras()
        res = gradflow.run(T=args.T, N=args.batch, input_size=args.input_size, hidden=args.hidden,
                           layers=args.layers, seed=args.seed, forget_bias=args.forget_bias,
                           out=args.out)
    except (UsageError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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


VERIFY_EPILOG = """\
Each row is one configuration, named like "lstm L2 bi  bias tm hx float64": the model, the
number of layers (L2), one direction (uni) or two (bi), with biases (bias) or without (----),
time-major (tm) or batch-first (bf) input, with initial states given (hx) or not (--), and
the dtype. The columns are the worst relative error against torch of the output (out), the
final states (h_n, c_n), the input gradient (dx), the initial-state gradients (dh0, dc0)
and every parameter gradient (dW/db), then the worst error against float64 finite
differences (fd); a dash means the row has no such tensor or check. The last column is ok
when every error is within its tolerance and FAIL when one is not."""


class _Help(argparse.HelpFormatter):
    """Every default in --help, except the empty ones (None, False) that say nothing."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0 or \
                "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)".strip()

    def _format_action(self, action):
        if action.help is None and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"   # argparse shows nothing for help=None
        return super()._format_action(action)


def _parser(sub, name, **kw):
    return sub.add_parser(name, formatter_class=_Help, **kw)


def build_parser():
    from scratchrnn import __version__
    from . import argtypes as at
    p = argparse.ArgumentParser(prog="scratchrnn", description=__doc__, formatter_class=_Help)
    p.add_argument("--version", action="version", version=f"scratchrnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    v = _parser(sub, "verify", help="compare every output and gradient with torch and "
                                    "finite differences; exit 1 on any failure",
                epilog=VERIFY_EPILOG)
    v.add_argument("--json", metavar="PATH", type=at.out_file, help="write every number to this JSON file")
    v.add_argument("--models", nargs="+", default=["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"],
                   choices=["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"])
    v.add_argument("--max-layers", type=int, default=3, choices=[1, 2, 3])
    v.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                   choices=["float32", "float64"])
    v.add_argument("--no-fd", action="store_true", help="skip the finite-difference oracle")
    v.add_argument("--failures-only", action="store_true", help="print only failing rows")
    v.add_argument("--seed", type=at.seed, default=0)
    v.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where torch runs: cpu, or cuda (cuDNN, TF32 off) to check against the "
                        "GPU kernels (default cpu)")
    v.set_defaults(func=_verify)

    t = _parser(sub, "train", help="train a classic task: charlm, mnist or sine (needs the "
                                   "plots extra)")
    tasks = t.add_subparsers(dest="task", required=True)
    from .tasks import charlm, mnist, sine
    for name, module, text in (("charlm", charlm, "character language model"),
                               ("mnist", mnist, "MNIST read row by row"),
                               ("sine", sine, "sin -> cos regression, state carried")):
        tp = _parser(tasks, name, help=text, description=module.__doc__)
        module.add_arguments(tp)
        tp.add_argument("--backend", choices=["scratch", "torch"], default="scratch",
                        help="torch runs the torch_ref mirror on the same data and weights")
        tp.add_argument("--dtype", choices=["float32", "float64"], default="float32")
        tp.add_argument("--seed", type=at.seed, default=0)
        tp.add_argument("--out", type=at.out_folder,
                        help="run folder (default: runs/ and a name made of the task, corpus, "
                             "model, backend, seed and a hash of the other settings)")
        tp.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoint (same settings; "
                             "--epochs may grow)")
        tp.add_argument("--force", action="store_true",
                        help="replace a run already in --out instead of refusing")
        tp.add_argument("--save-every", type=at.positive_int, default=10,
                        help="checkpoint every N " + ("segments" if name == "sine" else "epochs") +
                             " (and at the end, and on Ctrl-C)")
        tp.set_defaults(func=_train)

    gf = _parser(sub, "gradflow", help="plot ‖∂L/∂h_t‖ over time and the per-step Jacobian "
                                       "norms for the RNN, LSTM and GRU (needs the plots extra)")
    gf.add_argument("--T", type=at.positive_int, default=100, help="sequence length")
    gf.add_argument("--batch", type=at.positive_int, default=8)
    gf.add_argument("--input-size", type=at.positive_int, default=8)
    gf.add_argument("--hidden", type=at.positive_int, default=32)
    gf.add_argument("--layers", type=at.positive_int, default=2)
    gf.add_argument("--seed", type=at.seed, default=0)
    gf.add_argument("--forget-bias", type=at.finite_float, default=1.0,
                    help="also show the LSTM with its forget gate started at this bias")
    gf.add_argument("--out", type=at.out_folder, default="runs/gradflow")
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
                            "over a grid of sizes (arguments go to scratchrnn.bench; try bench --help)")
    b.add_argument("rest", nargs=argparse.REMAINDER)     # main() hands these over untouched

    g = _parser(sub, "generate", help="text from a charlm checkpoint")
    g.add_argument("--checkpoint", required=True, help="a checkpoint.npz from 'train charlm'")
    g.add_argument("--prefix", required=True, help="text to start from (characters of the corpus)")
    g.add_argument("--length", type=at.nonneg_int, default=100, help="characters to add")
    g.add_argument("--temperature", type=at.nonneg_float, default=0.0, help="0 = greedy")
    g.add_argument("--seed", type=at.seed, default=None)
    g.set_defaults(func=_generate)
    return p


def _check_bench_numbers(rest):
    """The bench harness's numeric options, checked before it starts (one ``error:`` line,
    exit 2); everything else, and the options themselves, stay the harness's."""
    from . import argtypes as at
    p = argparse.ArgumentParser(prog="scratchrnn bench", add_help=False, allow_abbrev=False,
                                usage="scratchrnn bench [options]  (scratchrnn bench --help lists them)")
    for flag in ("--T", "--N", "--H"):
        p.add_argument(flag, nargs="+", type=at.positive_int)
    for flag in ("--repeats", "--peak-n", "--peak-n-cuda", "--long-t-max-nh"):
        p.add_argument(flag, type=at.positive_int)
    for flag in ("--pause", "--nojit-max-s"):
        p.add_argument(flag, type=at.nonneg_float)
    p.add_argument("--seed", type=at.seed)
    p.add_argument("--out", type=at.out_folder)
    p.parse_known_args(rest)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:              # everything after it belongs to scratchrnn.bench
        if not {"-h", "--help"} & set(argv):
            _check_bench_numbers(argv[1:])
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except KeyboardInterrupt:              # outside a training loop: nothing to save
        print("stopped by SIGINT", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
