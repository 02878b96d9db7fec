"""MNIST read row by row: 28 time steps of 28 pixels, the last step's output classifies.

The tutorial's setting (2-layer LSTM of 128, Adam 1e-3, batch 100) is the default;
test accuracy is measured after every epoch.
"""

import os
import time

import numpy as np

from scratchrnn.apps import data
from scratchrnn.apps.tasks import common
from scratchrnn.apps.tasks.backends import build_models, make_backend


def add_arguments(p):
    p.add_argument("--model", choices=["lstm", "rnn", "rnn_relu"], default="lstm")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=None, help="global gradient-norm limit (off)")
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N training and N test images (quick runs)")


def accuracy(backend, images, labels, batch=1000):
    correct = 0
    for i in range(0, len(images), batch):
        x = np.ascontiguousarray(images[i:i + batch].transpose(1, 0, 2))  # (T=28, N, I=28)
        logits, _ = backend.predict(x)                                     # (T, N, 10)
        correct += int(np.sum(np.argmax(logits[-1], axis=1) == labels[i:i + batch]))
    return correct / len(images)


def run(args):
    common.require_extras()
    train_x, train_y = data.load_mnist(args.data_dir, train=True)
    test_x, test_y = data.load_mnist(args.data_dir, train=False)
    if args.limit:
        train_x, train_y, test_x, test_y = (a[:args.limit] for a in (train_x, train_y, test_x, test_y))
    train_x, test_x = train_x.astype(args.dtype), test_x.astype(args.dtype)
    core, head = build_models(args.model, 28, args.hidden, args.layers, 10, args.dtype, args.seed)
    backend = make_backend(args.backend, core, head, optimizer=args.optimizer, lr=args.lr,
                           clip=args.clip)
    os.makedirs(args.out, exist_ok=True)
    start, rng = common.start_or_resume(args, backend)
    metrics = common.Metrics(args.out, ["epoch", "loss", "test_accuracy", "seconds"], args.resume)
    n_batches = len(train_x) // args.batch
    print(f"mnist: {len(train_x)} training and {len(test_x)} test images, backend {backend.name}")
    t_start = time.perf_counter()
    for epoch in range(start, args.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(len(train_x))
        loss_sum = 0.0
        bar = common.progress(range(n_batches), n_batches, f"epoch {epoch}/{args.epochs}")
        for step in bar:
            b = order[step * args.batch:(step + 1) * args.batch]
            x = np.ascontiguousarray(train_x[b].transpose(1, 0, 2))   # (T=28, N, I=28)
            loss, _, _ = backend.train_step(x, train_y[b], None, "ce_last")
            common.check_finite(loss, epoch, step, args.out)
            loss_sum += loss
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss:.4f}")
        acc = accuracy(backend, test_x, test_y)
        metrics.add(epoch=epoch, loss=loss_sum / n_batches, test_accuracy=acc,
                    seconds=time.perf_counter() - t0)
        print(f"epoch {epoch}: loss {loss_sum / n_batches:.4f}, test accuracy {acc:.4f}")
        common.save_checkpoint(os.path.join(args.out, common.CHECKPOINT), backend.arrays(),
                               {"task": "mnist", "epoch": epoch, "config": common.run_config(args),
                                "rng": common.rng_state(rng)})
    common.plot_curves(os.path.join(args.out, "curves.png"), metrics, "epoch",
                       [("loss", "training loss", True), ("test_accuracy", "test accuracy", False)],
                       f"MNIST rows ({args.layers}-layer {args.model} {args.hidden}, {backend.name})")
    summary = {"task": "mnist", "backend": backend.name, "epochs": args.epochs,
               "test_accuracy": metrics.rows[-1]["test_accuracy"] if metrics.rows else None,
               "wall_s": time.perf_counter() - t_start, "seed": args.seed}
    return common.write_summary(args.out, summary)
