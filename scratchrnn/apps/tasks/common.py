"""What every task shares: run folder, metrics CSV, plots, checkpoints, progress bars.

Checkpoints are ``.npz`` files written atomically (a temporary file in the same
folder, then ``os.replace``) and read with ``allow_pickle=False``; the run's
settings, epoch and random-generator state travel as a JSON string inside.
"""

import csv
import json
import os
import tempfile

import numpy as np

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.csv"


def require_extras():
    """tqdm and matplotlib come with the ``plots`` extra; say how to get them."""
    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"training needs tqdm and matplotlib ({e.name} is missing): "
                         "pip install 'scratchrnn[plots]'") from None


def progress(iterable, total, desc):
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def save_checkpoint(path, arrays, meta):
    """Write arrays plus a JSON ``meta`` dict to ``path`` atomically; never a half-written file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path):
    """(arrays, meta) from a checkpoint; no pickle is ever loaded."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    with np.load(path, allow_pickle=False) as z:
        if "__meta__" not in z.files:
            raise ValueError(f"{path} is not a scratchrnn checkpoint (no __meta__ entry)")
        meta = json.loads(str(z["__meta__"]))
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
    return arrays, meta


class Metrics:
    """Append-only CSV of one row per epoch; on resume it keeps the rows already there."""

    def __init__(self, folder, fields, resume=False):
        self.path = os.path.join(folder, METRICS)
        self.fields = list(fields)
        self.rows = []
        if resume and os.path.exists(self.path):
            with open(self.path, newline="") as f:
                self.rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
        else:
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.fields)

    def add(self, **row):
        self.rows.append(row)
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row[k] for k in self.fields])

    def column(self, name):
        return [r[name] for r in self.rows]


def plot_curves(path, metrics, x, panels, title):
    """One PNG with a panel per (column, label, log-scale?) against column ``x``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (col, label, log) in zip(axes[0], panels):
        ax.plot(metrics.column(x), metrics.column(col), marker="." if len(metrics.rows) < 40 else None)
        ax.set_xlabel(x)
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN/inf loss; the last good checkpoint is kept."""


def check_finite(loss, epoch, step, folder):
    if not np.isfinite(loss):
        raise NonFiniteLoss(f"loss became {loss} at epoch {epoch}, step {step}; stopped. "
                            f"The last good checkpoint is {os.path.join(folder, CHECKPOINT)}")


def run_config(args):
    """The run's settings as a JSON-able dict (stored in every checkpoint)."""
    return {k: v for k, v in vars(args).items() if k != "func"}


def start_or_resume(args, backend):
    """(first epoch, generator): 1 and a fresh seeded generator, or where ``--resume`` left off."""
    if not args.resume:
        return 1, np.random.default_rng(args.seed)
    arrays, meta = load_checkpoint(os.path.join(args.out, CHECKPOINT))
    backend.load_arrays(arrays)
    return meta["epoch"] + 1, restore_rng(meta["rng"])


def write_summary(folder, summary):
    """``summary.json`` in the run folder, and the same line on stdout."""
    with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))
    return summary


def rng_state(rng):
    return rng.bit_generator.state


def restore_rng(state):
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng
