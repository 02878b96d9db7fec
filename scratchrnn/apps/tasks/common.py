"""What every task shares: the run folder, the metrics CSV, plots, progress bars.

A run folder holds ``checkpoint.npz``, ``metrics.csv`` (one row per epoch), PNG
curves and ``summary.json``. A folder that already holds a run is never overwritten
silently: a new run there needs ``--force``, and ``--resume`` continues it.
"""

import csv
import hashlib
import json
import os

from scratchrnn.apps.tasks.checkpoint import CHECKPOINT

METRICS = "metrics.csv"
SUMMARY = "summary.json"
RUN_FILES = (CHECKPOINT, METRICS, SUMMARY, "samples.txt", "curves.png", "perplexity.png",
             "loss.png", "prediction.png")
# settings that never change what a run computes, so --resume may change them
FREE_SETTINGS = {"func", "argv", "out", "resume", "force", "save_every", "pred_every", "pred_len",
                 "prefixes", "data_dir", "epochs", "segments"}


class UsageError(ValueError):
    """A user mistake the command line reports as one ``error:`` line and exit code 2."""


def require_extras():
    """tqdm and matplotlib come with the ``plots`` extra; say how to get them."""
    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as e:
        raise UsageError(f"training and gradflow need tqdm and matplotlib ({e.name} is missing): "
                         "pip install 'scratchrnn[plots]'") from None


def progress(iterable, total, desc, initial=0):
    """A tqdm bar; ``initial`` is the position a resumed run starts from."""
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True)


def run_config(args, **extra):
    """The run's settings as a JSON-able dict (stored in every checkpoint)."""
    cfg = {k: v for k, v in vars(args).items() if k not in ("func", "argv")}
    cfg.update(extra)
    return cfg


def fixed_settings(config):
    """The settings a run's results depend on (all but ``FREE_SETTINGS``), sorted by name."""
    return sorted(k for k in config if k not in FREE_SETTINGS)


def default_out(config, *labels):
    """``runs/TASK-LABELS-BACKEND-seedS-XXXXXX``: the hash tells runs with other settings apart."""
    fixed = {k: config[k] for k in fixed_settings(config)}
    digest = hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:6]
    name = "-".join([config["task"], *labels, config["backend"], f"seed{config['seed']}", digest])
    return os.path.join("runs", name)


def prepare_folder(args):
    """Make the run folder ready: refuse to overwrite a run unless ``--force``; ``--resume``
    needs a checkpoint there."""
    out = args.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out} is a file; give a folder")
    existing = [f for f in RUN_FILES if os.path.exists(os.path.join(out, f))]
    ckpt = os.path.join(out, CHECKPOINT)
    if args.resume:
        if not os.path.exists(ckpt):
            raise UsageError(f"--resume: there is no checkpoint in {out} to continue; "
                             f"run without --resume to start a run there")
        return
    if existing and not args.force:
        raise UsageError(f"{out} already holds a run ({', '.join(existing)}); continue it with "
                         f"--resume, replace it with --force, or choose another --out")
    for f in existing:
        os.unlink(os.path.join(out, f))
    os.makedirs(out, exist_ok=True)


class Metrics:
    """CSV of one row per epoch (``key`` column); a resumed run keeps the rows up to its
    checkpoint and drops any written after it, so every epoch appears once."""

    def __init__(self, folder, fields, keep_until=None):
        self.path = os.path.join(folder, METRICS)
        self.fields, self.key = list(fields), fields[0]
        self.rows = []
        if keep_until is not None and os.path.exists(self.path):
            with open(self.path, newline="") as f:
                rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
            self.rows = [r for r in rows if r[self.key] <= keep_until]
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.fields)
            w.writerows([r[k] for k in self.fields] for r in self.rows)
        os.replace(tmp, self.path)

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


def write_summary(folder, summary):
    """``summary.json`` in the run folder, and the same line on stdout."""
    with open(os.path.join(folder, SUMMARY), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))
    return summary
