"""Character language model, as in the classic from-scratch char-RNN tutorial.

One-hot characters -> RNN/LSTM -> Linear over the vocabulary, mean cross-entropy
over every step, global-norm clipping, SGD. Two samplers (``scratchrnn.data``):
random (state reset per batch) and consecutive (state carried across batches
and detached: the gradient of the initial state is dropped, i.e. truncated BPTT).
Training perplexity ``exp(mean loss per character)`` is recorded every epoch,
and text is generated from the prefixes every ``--pred-every`` epochs.
"""

import hashlib
import math
import os
import time

import numpy as np

import scratchrnn as sr
from scratchrnn.apps import argtypes, data
from scratchrnn.apps.tasks import checkpoint as ckpt
from scratchrnn.apps.tasks import common
from scratchrnn.apps.tasks.backends import ScratchBackend, build_models, make_backend
from scratchrnn.apps.tasks.session import Position, Session

LYRICS_PREFIXES = ["分开", "不分开"]
DEFAULT_PREFIXES = ["Beautiful", "Now"]


def add_arguments(p):
    p.add_argument("--corpus", type=argtypes.in_file,
                   help="a .txt or .zip corpus (default: the Zen of Python, shipped with Python; "
                        "the tutorial's lyrics are jaychou_lyrics.txt.zip)")
    p.add_argument("--max-chars", type=argtypes.positive_int, default=10000,
                   help="use the first N characters")
    p.add_argument("--model", choices=["rnn", "lstm"], default="rnn")
    p.add_argument("--hidden", type=argtypes.positive_int, default=256)
    p.add_argument("--layers", type=argtypes.positive_int, default=1)
    p.add_argument("--epochs", type=argtypes.positive_int, default=250)
    p.add_argument("--steps", type=argtypes.positive_int, default=35, help="time steps per batch (T)")
    p.add_argument("--batch", type=argtypes.positive_int, default=32)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--lr", type=argtypes.positive_float, default=100.0)
    p.add_argument("--clip", type=argtypes.positive_float, default=0.01,
                   help="global gradient-norm limit")
    p.add_argument("--init", choices=["normal", "default"], default="normal",
                   help="normal: weights N(0, 0.01²), zero biases (the tutorial's); "
                        "default: torch's U(-1/√H, 1/√H)")
    p.add_argument("--sampler", choices=["random", "consecutive"], default="random")
    p.add_argument("--prefixes", nargs="+", help="prefixes to generate from (default: 分开 不分开 "
                                                 "when the corpus has those characters, else Now)")
    p.add_argument("--pred-every", type=argtypes.positive_int, default=50,
                   help="generate from the prefixes every N epochs")
    p.add_argument("--pred-len", type=argtypes.nonneg_int, default=50)


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
    full = data.load_corpus(args.corpus)
    text = full[:args.max_chars]
    vocab = data.Vocab.from_text(text)
    corpus = vocab.encode(text)
    V = len(vocab)
    fits = (len(corpus) - 1) // args.steps if args.sampler == "random" else len(corpus) // (args.steps + 1)
    if 1 <= fits < args.batch:                     # e.g. the short built-in corpus
        print(f"note: {len(corpus)} characters hold only {fits} windows of {args.steps} steps; "
              f"using --batch {fits} instead of {args.batch}")
        args.batch = fits
    per_epoch = data.num_batches(len(corpus), args.batch, args.steps, args.sampler)
    unknown = [p for p in args.prefixes or () if any(c not in vocab.chars for c in p)]
    if unknown:
        raise common.UsageError(f"--prefixes: {unknown[0]!r} has characters the corpus does not")
    prefixes = args.prefixes or (LYRICS_PREFIXES if all(c in vocab.chars for c in "不分开")
                                 else [p for p in DEFAULT_PREFIXES if all(c in vocab.chars for c in p)]
                                 or [vocab.chars[0]])
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    config = common.run_config(args, task="charlm", corpus=digest)   # the text, not its path
    if args.out is None:
        name = os.path.basename(args.corpus).split(".")[0] if args.corpus else "zen"
        args.out = config["out"] = common.default_out(config, name, args.model)
    common.prepare_folder(args)
    core, head = build_models(args.model, V, args.hidden, args.layers, V, args.dtype, args.seed,
                              args.init)
    backend = make_backend(args.backend, core, head, optimizer=args.optimizer, lr=args.lr,
                           clip=args.clip)
    cut = f" (the first {len(text)} of {len(full)}; --max-chars)" if len(text) < len(full) else ""
    print(f"charlm: {len(corpus)} characters{cut}, vocabulary {V}, {per_epoch} batches per epoch, "
          f"backend {backend.name}, {args.sampler} sampling; run folder {args.out}")
    with Session(config, backend, {"vocab": vocab.to_array()}) as run:
        pos = run.begin(args.epochs, args.seed)
        metrics = common.Metrics(args.out, ["epoch", "loss", "perplexity", "seconds"], pos.epoch)
        t_start = time.perf_counter()
        epochs = common.progress(range(pos.epoch + 1, args.epochs + 1), args.epochs, "epochs",
                                 initial=pos.epoch)
        for epoch in epochs:
            _epoch(args, run, pos, corpus, V, per_epoch)
            loss, n, secs = pos.sums["loss"], pos.sums["n"], pos.sums["seconds"]
            ppl = math.exp(loss / n) if loss / n < 700 else math.inf   # exp(709) overflows
            metrics.add(epoch=epoch, loss=loss / n, perplexity=ppl, seconds=secs)
            pos.epoch, pos.step, pos.sums, pos.state = epoch, 0, {}, None
            epochs.set_postfix(perplexity=f"{ppl:.3f}")
            last = epoch == args.epochs
            if epoch % args.pred_every == 0 or last:
                lines = [f"epoch {epoch}, perplexity {ppl:.3f}"]
                lines += [" - " + generate(backend, vocab, p, args.pred_len) for p in prefixes]
                epochs.write("\n".join(lines))
                with open(os.path.join(args.out, "samples.txt"), "a") as f:
                    f.write("\n".join(lines) + "\n")
            if epoch % args.save_every == 0 or last:
                run.save(pos, finished=last)
            run.check_stop(pos)
    common.plot_curves(os.path.join(args.out, "perplexity.png"), metrics, "epoch",
                       [("perplexity", "training perplexity", True), ("loss", "cross-entropy", False)],
                       f"charlm ({args.model}, {args.sampler}, {backend.name})")
    summary = {"task": "charlm", "backend": backend.name, "sampler": args.sampler,
               "final_perplexity": metrics.rows[-1]["perplexity"],
               "wall_s": time.perf_counter() - t_start, "epochs": args.epochs, "seed": args.seed,
               "out": args.out}
    return common.write_summary(args.out, summary)


def _epoch(args, run, pos, corpus, V, per_epoch):
    """Train epoch ``pos.epoch + 1`` from step ``pos.step`` (non-zero when resuming inside it)."""
    t0 = time.perf_counter()
    start_rng = ckpt.rng_state(pos.rng)                   # replayed when resumed inside the epoch
    if args.sampler == "random":
        batches = data.random_batches(corpus, args.batch, args.steps, pos.rng)
    else:
        batches = data.consecutive_batches(corpus, args.batch, args.steps)
    sums = {"loss": 0.0, "n": 0, "seconds": 0.0, **pos.sums}
    first, state = pos.step, pos.state
    for step, (X, Y) in enumerate(batches):
        if step < first:
            continue                               # done before the run was stopped
        if args.sampler == "random":
            state = None                           # windows are unrelated: start from zeros
        x = sr.one_hot(X.T, V, dtype=args.dtype)                      # (T, N, V)
        loss, state, _ = run.backend.train_step(x, Y.T, state, "ce_all")
        sums["loss"] += loss * Y.size
        sums["n"] += Y.size
        here = dict(sums, seconds=sums["seconds"] + time.perf_counter() - t0)
        mid = Position(pos.epoch, step + 1, start_rng, here, state)
        run.step_done(loss, mid, per_epoch)
    sums["seconds"] += time.perf_counter() - t0
    pos.sums = sums


def generate_from_checkpoint(path, prefix, length, temperature=0.0, seed=None):
    """Text from a charlm checkpoint (either backend wrote it; both use torch's names).

    A checkpoint that cannot be read or is not a charlm one, and a prefix with characters
    the model never saw, raise :class:`~scratchrnn.apps.tasks.checkpoint.CheckpointError`
    or :class:`~scratchrnn.apps.tasks.common.UsageError` with the reason.
    """
    arrays, meta = ckpt.load(path)
    if meta.get("task") != "charlm":
        raise ckpt.CheckpointError(f"{path} is a {meta.get('task')!r} checkpoint; generate needs "
                                   f"one from 'scratchrnn train charlm'")
    cfg = meta["config"]
    try:
        vocab = data.Vocab.from_array(arrays["vocab"])
        core, head = build_models(cfg["model"], len(vocab), cfg["hidden"], cfg["layers"],
                                  len(vocab), cfg["dtype"], None)
        ckpt.check_arrays(arrays, {**{f"core.{k}": v for k, v in core.state_dict().items()},
                                   **{f"head.{k}": v for k, v in head.state_dict().items()}}, path)
        core.load_state_dict({k[5:]: v for k, v in arrays.items() if k.startswith("core.")})
        head.load_state_dict({k[5:]: v for k, v in arrays.items() if k.startswith("head.")})
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ckpt.CheckpointError):
            raise
        raise ckpt.CheckpointError(f"{path} is not a complete charlm checkpoint: "
                                   f"{type(e).__name__}: {e}") from None
    missing = sorted({c for c in prefix if c not in vocab.chars})
    if missing:
        shown = "".join(vocab.chars[:40]).strip()
        raise common.UsageError(f"--prefix has characters the model never saw: "
                                f"{' '.join(map(repr, missing[:8]))}; its {len(vocab)}-character "
                                f"vocabulary starts {shown!r}")
    backend = ScratchBackend(core, head, optimizer=cfg.get("optimizer", "sgd"), lr=1.0)
    return generate(backend, vocab, prefix, length, temperature, np.random.default_rng(seed))
