"""sin -> cos regression with the hidden state carried across segments (truncated BPTT).

Each training step reads the next segment of the time axis (``data.sine_segments``);
the final state of one segment is the initial state of the next, and the
gradient stops at the segment boundary. The plot shows prediction against target.
"""

import os
import time

import numpy as np

from scratchrnn.apps import data
from scratchrnn.apps.tasks import common
from scratchrnn.apps.tasks.backends import build_models, make_backend


def add_arguments(p):
    p.add_argument("--model", choices=["rnn", "lstm", "rnn_relu"], default="rnn")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--segments", type=int, default=300, help="training steps, one segment each")
    p.add_argument("--steps", type=int, default=10, help="time steps per segment (T)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--clip", type=float, default=None)


def run(args):
    common.require_extras()
    core, head = build_models(args.model, 1, args.hidden, args.layers, 1, args.dtype, args.seed)
    backend = make_backend(args.backend, core, head, optimizer=args.optimizer, lr=args.lr,
                           clip=args.clip)
    os.makedirs(args.out, exist_ok=True)
    start, state = 0, None
    if args.resume:
        arrays, meta = common.load_checkpoint(os.path.join(args.out, common.CHECKPOINT))
        backend.load_arrays(arrays)
        start = meta["epoch"]
        state = _state_from(arrays)
    metrics = common.Metrics(args.out, ["segment", "loss"], args.resume)
    segments = list(data.sine_segments(args.segments, args.steps))
    t_start = time.perf_counter()
    tail = []                                                     # (t, target, prediction)
    for k in common.progress(range(start, args.segments), args.segments - start, "segments"):
        x, y = (a.astype(args.dtype) for a in segments[k])        # each (T, N=1, 1)
        pred, _ = backend.predict(x, state)                       # before the update, for the plot
        loss, state, _ = backend.train_step(x, y, state, "mse_all")   # state carried over
        common.check_finite(loss, k, 0, args.out)
        metrics.add(segment=k + 1, loss=loss)
        tail = (tail + [(k, y[:, 0, 0], pred[:, 0, 0])])[-8:]
    common.save_checkpoint(os.path.join(args.out, common.CHECKPOINT),
                           {**backend.arrays(), **_state_arrays(state)},
                           {"task": "sine", "epoch": args.segments,
                            "config": common.run_config(args)})
    common.plot_curves(os.path.join(args.out, "loss.png"), metrics, "segment",
                       [("loss", "MSE", True)], f"sin -> cos ({args.model}, {backend.name})")
    _plot_prediction(os.path.join(args.out, "prediction.png"), tail, args.steps)
    summary = {"task": "sine", "backend": backend.name,
               "final_loss": float(np.mean(metrics.column("loss")[-20:])) if metrics.rows else None,
               "wall_s": time.perf_counter() - t_start, "seed": args.seed}
    return common.write_summary(args.out, summary)


def _state_arrays(state):
    parts = state if isinstance(state, tuple) else (state,)
    return {f"state.{i}": s for i, s in enumerate(parts) if s is not None}


def _state_from(arrays):
    parts = [arrays[k] for k in sorted(a for a in arrays if a.startswith("state."))]
    return None if not parts else (tuple(parts) if len(parts) == 2 else parts[0])


def _plot_prediction(path, tail, steps):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for i, (k, y, p) in enumerate(tail):
        t = np.linspace(k * np.pi, (k + 1) * np.pi, steps, endpoint=False)   # as data.sine_segments
        ax.plot(t, y, "r-", label="target cos(t)" if i == 0 else None)
        ax.plot(t, p, "b--", label="prediction" if i == 0 else None)
    ax.set_xlabel("t")
    ax.legend(loc="upper right")
    ax.set_title("last segments: prediction from sin(t) before each update")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
