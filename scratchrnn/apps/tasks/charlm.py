"""Character language model, as in the classic from-scratch char-RNN tutorial.

One-hot characters -> RNN/LSTM -> Linear over the vocabulary, mean cross-entropy
over every step, global-norm clipping, SGD. Two samplers (``scratchrnn.data``):
random (state reset per batch) and consecutive (state carried across batches
and detached: the gradient of the initial state is dropped, i.e. truncated BPTT).
Training perplexity ``exp(mean loss per character)`` is recorded every epoch,
and text is generated from the prefixes every ``--pred-every`` epochs.
"""

import math
import os
import time

import numpy as np

import scratchrnn as sr
from scratchrnn.apps import data
from scratchrnn.apps.tasks import common
from scratchrnn.apps.tasks.backends import ScratchBackend, build_models, make_backend

LYRICS_PREFIXES = ["分开", "不分开"]
DEFAULT_PREFIXES = ["Beautiful", "Now"]


def add_arguments(p):
    p.add_argument("--corpus", help="a .txt or .zip corpus (default: a text shipped with "
                                    "Python; the tutorial's lyrics are jaychou_lyrics.txt.zip "
                                    "in SCRATCHRNN_DATA)")
    p.add_argument("--max-chars", type=int, default=10000, help="use the first N characters")
    p.add_argument("--model", choices=["rnn", "lstm"], default="rnn")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--epochs", type=int, default=250)
    p.add_argument("--steps", type=int, default=35, help="time steps per batch (T)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--lr", type=float, default=100.0)
    p.add_argument("--clip", type=float, default=0.01, help="global gradient-norm limit")
    p.add_argument("--init", choices=["normal", "default"], default="normal",
                   help="normal: weights N(0, 0.01²), zero biases (the tutorial's); "
                        "default: torch's U(-1/√H, 1/√H)")
    p.add_argument("--sampler", choices=["random", "consecutive"], default="random")
    p.add_argument("--prefixes", nargs="+", help="prefixes to generate from")
    p.add_argument("--pred-every", type=int, default=50)
    p.add_argument("--pred-len", type=int, default=50)


def generate(backend, vocab, prefix, length, temperature=0.0, rng=None):
    """``prefix`` followed by ``length`` characters: greedy (temperature 0) or sampled."""
    V, dtype = len(vocab), backend_dtype(backend)
    ids = list(vocab.encode(prefix))
    if not ids:
        raise ValueError("prefix must contain at least one character")
    rng = rng or np.random.default_rng()
    state = None
    for t in range(len(ids) - 1 + length):
        x = sr.one_hot(np.array([[ids[t]]]), V, dtype=dtype)         # (T=1, N=1, V)
        logits, state = backend.predict(x, state)                      # (1, 1, V)
        if t < len(ids) - 1:
            continue                                                   # still reading the prefix
        z = logits[0, 0].astype(np.float64)
        if temperature <= 0:
            ids.append(int(np.argmax(z)))
        else:
            p = np.exp((z - z.max()) / temperature)
            ids.append(int(rng.choice(V, p=p / p.sum())))
    return vocab.decode(ids)


def backend_dtype(backend):
    if isinstance(backend, ScratchBackend):
        return backend.core.dtype
    return np.dtype(str(backend.core.weight_hh_l0.dtype).replace("torch.", ""))


def run(args):
    common.require_extras()
    text = data.load_corpus(args.corpus, args.max_chars)
    vocab = data.Vocab.from_text(text)
    corpus = vocab.encode(text)
    V = len(vocab)
    fits = (len(corpus) - 1) // args.steps if args.sampler == "random" else len(corpus) // (args.steps + 1)
    if 1 <= fits < args.batch:                     # e.g. the short built-in corpus
        print(f"note: {len(corpus)} characters hold only {fits} windows of {args.steps} steps; "
              f"using --batch {fits} instead of {args.batch}")
        args.batch = fits
    prefixes = args.prefixes or (LYRICS_PREFIXES if all(c in vocab.chars for c in "不分开")
                                 else DEFAULT_PREFIXES)
    prefixes = [p for p in prefixes if all(c in vocab.chars for c in p)] or [vocab.chars[0]]
    core, head = build_models(args.model, V, args.hidden, args.layers, V, args.dtype, args.seed,
                              args.init)
    backend = make_backend(args.backend, core, head, optimizer=args.optimizer, lr=args.lr,
                           clip=args.clip)
    os.makedirs(args.out, exist_ok=True)
    start, rng = common.start_or_resume(args, backend)
    metrics = common.Metrics(args.out, ["epoch", "loss", "perplexity", "seconds"], args.resume)
    per_epoch = data.num_batches(len(corpus), args.batch, args.steps, args.sampler)
    print(f"charlm: {len(corpus)} characters, vocabulary {V}, {per_epoch} batches per epoch, "
          f"backend {backend.name}, {args.sampler} sampling")
    t_start = time.perf_counter()
    epochs = common.progress(range(start, args.epochs + 1), args.epochs - start + 1, "epochs")
    for epoch in epochs:
        t0 = time.perf_counter()
        if args.sampler == "random":
            batches = data.random_batches(corpus, args.batch, args.steps, rng)
        else:
            batches = data.consecutive_batches(corpus, args.batch, args.steps)
        state, loss_sum, n = None, 0.0, 0
        for step, (X, Y) in enumerate(batches):
            if args.sampler == "random":
                state = None                       # windows are unrelated: start from zeros
            x = sr.one_hot(X.T, V, dtype=args.dtype)                  # (T, N, V)
            loss, state, _ = backend.train_step(x, Y.T, state, "ce_all")
            common.check_finite(loss, epoch, step, args.out)
            loss_sum += loss * Y.size
            n += Y.size
        ppl = math.exp(loss_sum / n) if loss_sum / n < 700 else math.inf   # exp(709) overflows
        metrics.add(epoch=epoch, loss=loss_sum / n, perplexity=ppl, seconds=time.perf_counter() - t0)
        epochs.set_postfix(perplexity=f"{ppl:.3f}")
        last = epoch == args.epochs
        if epoch % args.pred_every == 0 or last:
            lines = [f"epoch {epoch}, perplexity {ppl:.3f}"]
            lines += [" - " + generate(backend, vocab, p, args.pred_len) for p in prefixes]
            epochs.write("\n".join(lines))
            with open(os.path.join(args.out, "samples.txt"), "a") as f:
                f.write("\n".join(lines) + "\n")
        if epoch % args.save_every == 0 or last:
            common.save_checkpoint(os.path.join(args.out, common.CHECKPOINT),
                                   {**backend.arrays(), "vocab": vocab.to_array()},
                                   {"task": "charlm", "epoch": epoch, "config": common.run_config(args),
                                    "rng": common.rng_state(rng)})
    common.plot_curves(os.path.join(args.out, "perplexity.png"), metrics, "epoch",
                       [("perplexity", "training perplexity", True), ("loss", "cross-entropy", False)],
                       f"charlm ({args.model}, {args.sampler}, {backend.name})")
    summary = {"task": "charlm", "backend": backend.name, "sampler": args.sampler,
               "final_perplexity": metrics.rows[-1]["perplexity"] if metrics.rows else None,
               "wall_s": time.perf_counter() - t_start, "epochs": args.epochs, "seed": args.seed}
    return common.write_summary(args.out, summary)


def generate_from_checkpoint(path, prefix, length, temperature=0.0, seed=None):
    """Text from a charlm checkpoint (either backend wrote it; both use torch's names)."""
    arrays, meta = common.load_checkpoint(path)
    if meta.get("task") != "charlm":
        raise ValueError(f"{path} is a {meta.get('task')!r} checkpoint, not a charlm one")
    cfg = meta["config"]
    vocab = data.Vocab.from_array(arrays["vocab"])
    core, head = build_models(cfg["model"], len(vocab), cfg["hidden"], cfg["layers"], len(vocab),
                              cfg["dtype"], None)
    backend = ScratchBackend(core, head, optimizer=cfg["optimizer"], lr=cfg["lr"])
    backend.core.load_state_dict({k[5:]: v for k, v in arrays.items() if k.startswith("core.")})
    backend.head.load_state_dict({k[5:]: v for k, v in arrays.items() if k.startswith("head.")})
    return generate(backend, vocab, prefix, length, temperature, np.random.default_rng(seed))
