"""Training time: one epoch of each training task on both backends, same machine, same run.

    scratchrnn bench train [--tasks charlm mnist sine] [--data-dir DIR] [--out DIR]

Each task runs with the defaults of ``scratchrnn train TASK`` (read from its own argument
parser, so they stay the same): charlm on ``--corpus`` (default: the lyrics
``jaychou_lyrics.txt.zip`` in the data root), MNIST with the 2-layer LSTM of 128, sine.
One epoch is the training loop of the task: every batch (charlm: every random window
batch of the corpus; MNIST: 600 batches of 100; sine: every segment, with the prediction
the task makes before each update), excluding evaluation, checkpoints and plots.

Both backends get the same batches, seed and initial weights. The epoch is cut into
``--chunks`` consecutive chunks of batches; the two backends take turns chunk by chunk
(scratchrnn's chunk 1, pause, torch's chunk 1, pause, ...), each chunk a guarded sample
(``timing``): retaken when other processes were busy (a retaken chunk trains on its
batches once more, which changes nothing that is timed). Seconds per epoch = the sum of the
accepted chunks; the spread is that of the chunks' seconds per batch. Two untimed batches
per backend warm up first (Numba's cache, torch's first calls). An epoch shorter than
``MIN_TIMED_S`` (estimated as the slower backend's last warm-up batch times the number of
batches) runs as many times back to back as take that long, at most ``MAX_EPOCHS``, cut into
the same number of chunks, and seconds per epoch are their sum over the epochs: the char-LM's
8 batches at the tutorial's settings take about 0.2 s, and one batch per chunk left its
spread at 26–73 %.
"""

import argparse
import math
import os
import time

import numpy as np

from scratchrnn.bench import timing
from scratchrnn.bench.spec import RATIO, fmt_ratio

# -- configuration -----------------------------------------------------------
TASKS = ["charlm", "mnist", "sine"]
CHUNKS = 10
WARMUP_STEPS = 2
PAUSE_S = 0.3
MAX_RETRIES = 3            # takes of one chunk (each is a slice of a real epoch)
MIN_TIMED_S = 3.0          # a shorter epoch is timed several times back to back ...
MAX_EPOCHS = 20            # ... at most so many
# -----------------------------------------------------------------------------


def task_defaults(name, data_dir=None):
    """The settings ``scratchrnn train NAME`` runs with by default (its parser's defaults)."""
    from scratchrnn.apps.tasks import charlm, mnist, sine
    module = {"charlm": charlm, "mnist": mnist, "sine": sine}[name]
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    args = p.parse_args([])
    args.dtype, args.seed = "float32", 0                  # the train command's defaults
    if name == "charlm" and args.corpus is None:
        from scratchrnn.apps.data import paths
        root = data_dir or paths.data_dir()
        if root is None:
            raise FileNotFoundError("charlm times the tutorial's lyrics: set SCRATCHRNN_DATA or "
                                    f"--data-dir to the folder that holds {paths.LYRICS_FILE}")
        args.corpus = os.path.join(root, paths.LYRICS_FILE)
    return args


def _backend(name, core, head, args):
    """The task's backend; torch's on the CPU, where scratchrnn runs."""
    from scratchrnn.apps.tasks.backends import make_backend
    kw = {"device": "cpu"} if name == "torch" else {}
    return make_backend(name, core, head, optimizer=args.optimizer, lr=args.lr, clip=args.clip, **kw)


def _charlm_steps(args, backend_name):
    import scratchrnn as sr
    from scratchrnn.apps import data
    from scratchrnn.apps.tasks.backends import build_models
    corpus_text = data.load_corpus(args.corpus, args.max_chars)
    vocab = data.Vocab.from_text(corpus_text)
    corpus, V = vocab.encode(corpus_text), len(vocab)
    core, head = build_models(args.model, V, args.hidden, args.layers, V, args.dtype, args.seed,
                              args.init)
    backend = _backend(backend_name, core, head, args)
    batches = list(data.random_batches(corpus, args.batch, args.steps, np.random.default_rng(args.seed)))

    def step(X, Y):
        x = sr.one_hot(X.T, V, dtype=args.dtype)                     # (T, N, V)
        backend.train_step(x, Y.T, None, "ce_all")                   # random windows: fresh state
    settings = (f"{args.model} {args.hidden}×{args.layers}, T={args.steps}, batch {args.batch}, "
                f"{len(corpus)} characters, {args.optimizer} lr {args.lr:g}, clip {args.clip:g}")
    return [lambda X=X, Y=Y: step(X, Y) for X, Y in batches], settings


def _mnist_steps(args, backend_name, data_dir):
    from scratchrnn.apps import data
    from scratchrnn.apps.tasks.backends import build_models
    train_x, train_y = data.load_mnist(data_dir, train=True)
    if args.limit:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
    train_x = train_x.astype(args.dtype)
    core, head = build_models(args.model, 28, args.hidden, args.layers, 10, args.dtype, args.seed)
    backend = _backend(backend_name, core, head, args)
    order = np.random.default_rng(args.seed).permutation(len(train_x))

    def step(b):
        x = np.ascontiguousarray(train_x[b].transpose(1, 0, 2))      # (T=28, N, I=28)
        backend.train_step(x, train_y[b], None, "ce_last")
    idx = [order[i * args.batch:(i + 1) * args.batch] for i in range(len(train_x) // args.batch)]
    settings = (f"{args.model} {args.hidden}×{args.layers}, T=28, batch {args.batch}, "
                f"{len(train_x)} images, {args.optimizer} lr {args.lr:g}")
    return [lambda b=b: step(b) for b in idx], settings


def _sine_steps(args, backend_name):
    from scratchrnn.apps import data
    from scratchrnn.apps.tasks.backends import build_models
    core, head = build_models(args.model, 1, args.hidden, args.layers, 1, args.dtype, args.seed)
    backend = _backend(backend_name, core, head, args)
    segments = [tuple(a.astype(args.dtype) for a in s)
                for s in data.sine_segments(args.segments, args.steps)]   # each (T, N=1, 1)
    carried = {"state": None}

    def step(x, y):
        backend.predict(x, carried["state"])                          # as the task does, for its plot
        _, carried["state"], _ = backend.train_step(x, y, carried["state"], "mse_all")
    settings = (f"{args.model} {args.hidden}×{args.layers}, T={args.steps}, {args.segments} "
                f"segments, state carried, {args.optimizer} lr {args.lr:g}")
    return [lambda x=x, y=y: step(x, y) for x, y in segments], settings


def epoch_steps(name, args, backend_name, data_dir=None):
    """(list of one-batch callables making up one epoch, settings in words)."""
    if name == "charlm":
        return _charlm_steps(args, backend_name)
    if name == "mnist":
        return _mnist_steps(args, backend_name, data_dir)
    return _sine_steps(args, backend_name)


def time_epoch(steps_by_backend, guard, chunks=CHUNKS, pause=PAUSE_S, max_spread=timing.MAX_SPREAD,
               warmup=WARMUP_STEPS, min_s=MIN_TIMED_S):
    """Times one epoch per backend, chunk by chunk in turns, a short one several times (module
    docstring). ``steps_by_backend``: {backend: [callables]}, the same count each. Returns
    {backend: stats}, with "epoch_s", "batches" (per epoch) and "epochs" (timed)."""
    last_warmup_s = 0.0                              # the slower backend's last warm-up batch
    for steps in steps_by_backend.values():
        took = 0.0
        for s in steps[:warmup]:
            t0 = time.perf_counter()
            s()
            took = time.perf_counter() - t0
        last_warmup_s = max(last_warmup_s, took)
    n = len(next(iter(steps_by_backend.values())))
    epochs = epochs_to_time(last_warmup_s * n, min_s)
    bounds = np.linspace(0, n * epochs, min(chunks, n * epochs) + 1).astype(int)
    samples = {b: [] for b in steps_by_backend}
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        for b, steps in steps_by_backend.items():
            part = [steps[i % n] for i in range(lo, hi)]
            samples[b].append(timing.guarded_sample(
                guard, lambda: [s() for s in part], 1, max_retries=MAX_RETRIES, pause=pause))
            samples[b][-1] = samples[b][-1]._replace(per_call_s=samples[b][-1].per_call_s / (hi - lo),
                                                     calls=int(hi - lo))
            time.sleep(pause)
    out = {}
    for b, ss in samples.items():
        stats = timing.summarise(ss, max_spread)
        stats["epoch_s"] = float(sum(s.per_call_s * s.calls for s in ss)) / epochs
        stats["batches"], stats["epochs"] = n, epochs
        out[b] = stats
    return out


def epochs_to_time(estimate_s, min_s=MIN_TIMED_S):
    """How many epochs of about ``estimate_s`` seconds to time back to back: enough for
    ``min_s``, at most ``MAX_EPOCHS``; one where the estimate is 0 (no warm-up)."""
    if estimate_s <= 0 or estimate_s >= min_s:
        return 1
    return min(MAX_EPOCHS, math.ceil(min_s / estimate_s))


def run(tasks, guard, data_dir=None, chunks=CHUNKS, pause=PAUSE_S, limit=None, say=print, min_s=MIN_TIMED_S):
    """One row per task: settings, batches, and per backend the epoch seconds and spread."""
    rows = []
    for name in tasks:
        args = task_defaults(name, data_dir)
        if limit and name == "mnist":
            args.limit = limit
        elif limit and name == "sine":
            args.segments = min(args.segments, limit)
        built = {b: epoch_steps(name, args, b, data_dir) for b in ("scratch", "torch")}
        if limit and name == "charlm":
            built = {b: (steps[:limit], s) for b, (steps, s) in built.items()}
        timing.wait_quiet(guard)
        stats = time_epoch({b: steps for b, (steps, _) in built.items()}, guard, chunks, pause, min_s=min_s)
        row = {"task": name, "settings": built["scratch"][1], "limited": bool(limit),
               "scratchrnn": stats["scratch"], "torch_cpu": stats["torch"],
               "time_over_torch_cpu": stats["scratch"]["epoch_s"] / stats["torch"]["epoch_s"],
               "flagged": stats["scratch"]["flagged"] or stats["torch"]["flagged"]}
        rows.append(row)
        say(line(row))
    return rows


def line(row):
    """One console line per task; the ratio is time over torch CPU's."""
    s, t = row["scratchrnn"], row["torch_cpu"]
    return (f"{row['task']}: scratchrnn {s['epoch_s']:.2f} s/epoch ±{s['spread']:.0%}, torch CPU "
            f"{t['epoch_s']:.2f} s/epoch ±{t['spread']:.0%}, {RATIO} "
            f"{fmt_ratio(row['time_over_torch_cpu'])}" + (" †" if row["flagged"] else ""))
