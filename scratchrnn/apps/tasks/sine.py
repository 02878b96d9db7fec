"""sin -> cos regression with the hidden state carried across segments (truncated BPTT).

Each training step reads the next segment of the time axis (``data.sine_segments``);
the final state of one segment is the initial state of the next, and the
gradient stops at the segment boundary. The plot shows prediction against target.
"""

import os
import time

import numpy as np

from scratchrnn.apps import argtypes, data
from scratchrnn.apps.tasks import common
from scratchrnn.apps.tasks.backends import build_models, make_backend
from scratchrnn.apps.tasks.session import Position, Session


def add_arguments(p):
    p.add_argument("--model", choices=["rnn", "lstm", "rnn_relu"], default="rnn")
    p.add_argument("--hidden", type=argtypes.positive_int, default=32)
    p.add_argument("--layers", type=argtypes.positive_int, default=1)
    p.add_argument("--segments", type=argtypes.positive_int, default=300,
                   help="training steps, one segment each")
    p.add_argument("--steps", type=argtypes.positive_int, default=10,
                   help="time steps per segment (T)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=argtypes.positive_float, default=0.02)
    p.add_argument("--clip", type=argtypes.positive_float, default=None,
                   help="global gradient-norm limit (none)")


def run(args):
    common.require_extras()
    config = common.run_config(args, task="sine")
    if args.out is None:
        args.out = config["out"] = common.default_out(config, args.model)
    common.prepare_folder(args)
    core, head = build_models(args.model, 1, args.hidden, args.layers, 1, args.dtype, args.seed)
    backend = make_backend(args.backend, core, head, optimizer=args.optimizer, lr=args.lr,
                           clip=args.clip)
    print(f"sine: {args.segments} segments of {args.steps} steps, backend {backend.name}; "
          f"run folder {args.out}")
    segments = list(data.sine_segments(args.segments, args.steps))
    with Session(config, backend) as run:
        pos = run.begin(args.segments, args.seed)
        metrics = common.Metrics(args.out, ["segment", "loss"], pos.epoch)
        t_start = time.perf_counter()
        tail = []                                                  # (t, target, prediction)
        bar = common.progress(range(pos.epoch, args.segments), args.segments, "segments",
                              initial=pos.epoch)
        for k in bar:
            x, y = (a.astype(args.dtype) for a in segments[k])     # each (T, N=1, 1)
            pred, _ = backend.predict(x, pos.state)                # before the update, for the plot
            loss, state, _ = backend.train_step(x, y, pos.state, "mse_all")   # state carried over
            done = Position(k + 1, 0, pos.rng, {}, state)
            run.step_done(loss, done, args.segments, stop_here=False)   # a signal: saved below
            pos = done
            metrics.add(segment=k + 1, loss=loss)
            tail = (tail + [(k, y[:, 0, 0], pred[:, 0, 0])])[-8:]
            if (k + 1) % args.save_every == 0 or k + 1 == args.segments:
                run.save(pos, finished=k + 1 == args.segments)
            run.check_stop(pos)
    common.plot_curves(os.path.join(args.out, "loss.png"), metrics, "segment",
                       [("loss", "MSE", True)], f"sin -> cos ({args.model}, {backend.name})")
    _plot_prediction(os.path.join(args.out, "prediction.png"), tail, args.steps)
    summary = {"task": "sine", "backend": backend.name,
               "final_loss": float(np.mean(metrics.column("loss")[-20:])),
               "wall_s": time.perf_counter() - t_start, "seed": args.seed, "out": args.out}
    return common.write_summary(args.out, summary)


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
