"""How close to torch the float64 gradients are, over many seeds: the numbers docs/derivations.md quotes.

    python -m scratchrnn.apps.accuracy --seeds 40

For each model and seed, ``scratchrnn.apps.verify.check_torch`` builds a scratchrnn module
and a torch module with the same random weights (distinct non-zero b_ih and b_hh), feeds
both the same non-contiguous input and random initial states, puts random upstream
gradients on out, h_n and c_n, and compares out, the final states, dx, the initial-state
gradients and every parameter gradient. Each comparison is the max-norm relative error
``max|a − b| / max|b|``; a seed's error is the largest over those arrays. The table gives
the median and the largest over seeds, and the array where the largest occurred.
"""

import argparse
import statistics
import sys

from scratchrnn.apps import verify


def measure(models, seeds, T, N, I, H, layers=1, bidirectional=False, progress=True):
    """model -> list of (seed error, worst array name), one per seed."""
    bar = _progress(len(models) * seeds, progress)
    result = {}
    for model in models:
        cfg = verify.Config(model, num_layers=layers, bidirectional=bidirectional, dtype="float64",
                            T=T, N=N, I=I, H=H)
        rows = []
        for seed in range(seeds):
            errors = verify.check_torch(cfg, seed)               # name -> (error, ok)
            name = max(errors, key=lambda k: errors[k][0])
            rows.append((errors[name][0], name))
            bar.update(1)
        result[model] = rows
    bar.close()
    return result


def table(result, seeds, T, N, I, H, layers=1, bidirectional=False):
    head = (f"float64 vs torch, max-norm relative error over {seeds} seeds "
            f"(T={T}, N={N}, I={I}, H={H}, {layers} layer{'s' if layers > 1 else ''}, "
            f"{'bidirectional' if bidirectional else 'one direction'})")
    lines = [head, f"{'model':<10}{'median':>10}{'max':>10}  worst array"]
    for model, rows in result.items():
        worst = max(rows)
        lines.append(f"{model:<10}{statistics.median(e for e, _ in rows):>10.1e}{worst[0]:>10.1e}  {worst[1]}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scratchrnn.apps.accuracy", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=40, help="seeds 0..SEEDS-1 per model (default 40)")
    p.add_argument("--models", nargs="+", default=list(verify.MODELS), choices=verify.MODELS)
    p.add_argument("--size", type=int, nargs=4, default=(3, 2, 3, 4), metavar=("T", "N", "I", "H"),
                   help="sequence length, batch, input and hidden size (default 3 2 3 4)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.seeds < 1 or args.layers < 1 or min(args.size) < 1:
        p.error(f"expected positive --seeds, --layers and sizes, got {args.seeds}, {args.layers}, {args.size}")
    if "lstm_proj" in args.models and args.size[3] < 2:
        p.error(f"lstm_proj projects to H // 2 and needs H >= 2, got H = {args.size[3]}")
    try:
        import torch  # noqa: F401  (the oracle)
    except ImportError:
        print("error: the accuracy check needs PyTorch as its oracle: pip install 'scratchrnn[torch]'",
              file=sys.stderr)
        return 2
    T, N, I, H = args.size
    result = measure(args.models, args.seeds, T, N, I, H, args.layers, args.bidirectional,
                     progress=not args.no_progress)
    print(table(result, args.seeds, T, N, I, H, args.layers, args.bidirectional))
    return 0


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total, enabled):
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:                                          # tqdm is optional
        return _NoBar()
    return tqdm(total=total, desc="seeds", leave=False, dynamic_ncols=True)


if __name__ == "__main__":
    sys.exit(main())
