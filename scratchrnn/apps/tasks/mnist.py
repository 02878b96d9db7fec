"""MNIST read row by row: 28 time steps of 28 pixels, the last step's output classifies.

The tutorial's setting (2-layer LSTM of 128, Adam 1e-3, batch 100) is the default;
test accuracy is measured after every epoch.
"""

import os
import time

import numpy as np

from scratchrnn.apps import argtypes, data
from scratchrnn.apps.tasks import checkpoint as ckpt
from scratchrnn.apps.tasks import common
from scratchrnn.apps.tasks.backends import build_models, make_backend
from scratchrnn.apps.tasks.session import Position, Session


def add_arguments(p):
    p.add_argument("--model", choices=["lstm", "rnn", "rnn_relu"], default="lstm")
    p.add_argument("--hidden", type=argtypes.positive_int, default=128)
    p.add_argument("--layers", type=argtypes.positive_int, default=2)
    p.add_argument("--epochs", type=argtypes.positive_int, default=3)
    p.add_argument("--batch", type=argtypes.positive_int, default=100)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=argtypes.positive_float, default=1e-3)
    p.add_argument("--clip", type=argtypes.positive_float, default=None,
                   help="global gradient-norm limit (none)")
    p.add_argument("--limit", type=argtypes.positive_int, default=None,
                   help="use only the first N training and N test images (quick runs)")
    p.add_argument("--data-dir", type=argtypes.in_folder,
                   help="folder holding MNIST/raw/*.gz (default: $SCRATCHRNN_DATA; else downloaded "
                        "to ~/.cache/scratchrnn)")


def accuracy(backend, images, labels, batch=1000):
    correct = 0
    for i in range(0, len(images), batch):
        x = np.ascontiguousarray(images[i:i + batch].transpose(1, 0, 2))  # (T=28, N, I=28)
        logits, _ = backend.predict(x)                                     # (T, N, 10)
        correct += int(np.sum(np.argmax(logits[-1], axis=1) == labels[i:i + batch]))
    return correct / len(images)


def run(args):
    common.require_extras()
    config = common.run_config(args, task="mnist")
    if args.out is None:
        args.out = config["out"] = common.default_out(config, args.model)
    common.prepare_folder(args)
    train_x, train_y = data.load_mnist(args.data_dir, train=True)
    test_x, test_y = data.load_mnist(args.data_dir, train=False)
    if args.limit:
        train_x, train_y, test_x, test_y = (a[:args.limit] for a in (train_x, train_y, test_x, test_y))
    if len(train_x) < args.batch:
        raise common.UsageError(f"--batch {args.batch} is more than the {len(train_x)} training images")
    train_x, test_x = train_x.astype(args.dtype), test_x.astype(args.dtype)
    core, head = build_models(args.model, 28, args.hidden, args.layers, 10, args.dtype, args.seed)
    backend = make_backend(args.backend, core, head, optimizer=args.optimizer, lr=args.lr,
                           clip=args.clip)
    n_batches = len(train_x) // args.batch
    print(f"mnist: {len(train_x)} training and {len(test_x)} test images, backend {backend.name}; "
          f"run folder {args.out}")
    with Session(config, backend) as run:
        pos = run.begin(args.epochs, args.seed)
        metrics = common.Metrics(args.out, ["epoch", "loss", "test_accuracy", "seconds"], pos.epoch)
        t_start = time.perf_counter()
        for epoch in range(pos.epoch + 1, args.epochs + 1):
            t0 = time.perf_counter()
            start_rng = ckpt.rng_state(pos.rng)           # replayed when resumed inside the epoch
            order = pos.rng.permutation(len(train_x))
            sums = {"loss": 0.0, "seconds": 0.0, **pos.sums}
            bar = common.progress(range(pos.step, n_batches), n_batches, f"epoch {epoch}/{args.epochs}",
                                  initial=pos.step)
            for step in bar:
                b = order[step * args.batch:(step + 1) * args.batch]
                x = np.ascontiguousarray(train_x[b].transpose(1, 0, 2))   # (T=28, N, I=28)
                loss, _, _ = backend.train_step(x, train_y[b], None, "ce_last")
                sums["loss"] += loss
                mid = Position(epoch - 1, step + 1, start_rng,
                               dict(sums, seconds=sums["seconds"] + time.perf_counter() - t0))
                run.step_done(loss, mid, n_batches)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{loss:.4f}")
            acc = accuracy(backend, test_x, test_y)
            secs = sums["seconds"] + time.perf_counter() - t0
            metrics.add(epoch=epoch, loss=sums["loss"] / n_batches, test_accuracy=acc, seconds=secs)
            print(f"epoch {epoch}: loss {sums['loss'] / n_batches:.4f}, test accuracy {acc:.4f}")
            pos.epoch, pos.step, pos.sums = epoch, 0, {}
            if epoch % args.save_every == 0 or epoch == args.epochs:
                run.save(pos, finished=epoch == args.epochs)
            run.check_stop(pos)
    common.plot_curves(os.path.join(args.out, "curves.png"), metrics, "epoch",
                       [("loss", "training loss", True), ("test_accuracy", "test accuracy", False)],
                       f"MNIST rows ({args.layers}-layer {args.model} {args.hidden}, {backend.name})")
    summary = {"task": "mnist", "backend": backend.name, "epochs": args.epochs,
               "test_accuracy": metrics.rows[-1]["test_accuracy"],
               "wall_s": time.perf_counter() - t_start, "seed": args.seed, "out": args.out}
    return common.write_summary(args.out, summary)
