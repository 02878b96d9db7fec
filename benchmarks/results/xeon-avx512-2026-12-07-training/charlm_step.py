"""Where one char-LM training step of the scratch backend spends its time, phase by phase.

    python benchmarks/results/xeon-avx512-2026-12-07-training/charlm_step.py

The task's defaults (``scratchrnn train charlm``: an RNN of 256 on the lyrics' 1,027 one-hot
classes, T=35, batch 32, SGD, gradient clipping), the steps of ``ScratchBackend.train_step``
timed one by one (without its scans for divergence, which the code before 2026-12-07 ran and
the code after runs only after a refusal), freed memory kept as the benchmarks keep it. Medians
over 12 epochs of 8 batches, after 3 batches to warm up. Then the head's three GEMMs alone
(``kernels.matmul``, BLAS on both threads) against torch's matmul on the same arrays, medians of
30 after a pause. Run it with ``PYTHONPATH`` at another checkout to time that code.
"""
import collections
import os
import time

import numpy as np

import scratchrnn as sr
from scratchrnn.apps import data
from scratchrnn.apps.tasks.backends import ScratchBackend, build_models
from scratchrnn.bench import environment, train

from medians import median_seconds   # this folder's

environment.keep_freed_memory()
import torch  # noqa: E402  (after the allocator's settings, as the harness imports it)

args = train.task_defaults("charlm", os.environ.get("SCRATCHRNN_DATA"))
text = data.load_corpus(args.corpus, args.max_chars)
vocab = data.Vocab.from_text(text)
corpus, V = vocab.encode(text), len(vocab)
core, head = build_models(args.model, V, args.hidden, args.layers, V, args.dtype, args.seed, args.init)
backend = ScratchBackend(core, head, optimizer=args.optimizer, lr=args.lr, clip=args.clip)
batches = list(data.random_batches(corpus, args.batch, args.steps, np.random.default_rng(args.seed)))
phases = collections.defaultdict(list)


def step(X, Y, keep):
    marks = [time.perf_counter()]
    names = []

    def mark(name):
        marks.append(time.perf_counter())
        names.append(name)
    x = sr.one_hot(X.T, V, dtype=args.dtype); mark("one-hot input")
    core.train()
    out, _ = core(x, None); mark("RNN forward")
    pred = head(out); mark("head forward")
    _, d_pred = sr.cross_entropy(pred.reshape(-1, V), Y.T.reshape(-1)); mark("cross-entropy")
    d_out = head.backward(d_pred.reshape(pred.shape)); mark("head backward")
    core.backward(d_out, input_grad=False); mark("RNN backward")
    sr.clip_grad_norm([core, head], args.clip); mark("clip_grad_norm")
    backend.opt.step(); mark("SGD step")
    backend.opt.zero_grad(); mark("zero_grad")
    if keep:
        for name, t0, t1 in zip(names, marks, marks[1:]):
            phases[name].append(t1 - t0)
        phases["whole step"].append(marks[-1] - marks[0])


cpu = environment.cpu_record()
print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), f"{cpu['model']}, {cpu['isa']},",
      f"{cpu['usable_cpus']} CPUs; scratchrnn from {os.path.dirname(sr.__file__)}")
for X, Y in batches[:3]:
    step(X, Y, False)
for _ in range(12):
    for X, Y in batches:
        step(X, Y, True)
for name, times in phases.items():
    print(f"{name:16s} {np.median(times) * 1e3:7.3f} ms")

M, I, O = args.steps * args.batch, args.hidden, V        # the head's rows, inputs, outputs
rng = np.random.default_rng(0)
x2 = rng.standard_normal((M, I)).astype(np.float32)
w = rng.standard_normal((O, I)).astype(np.float32)
dy = rng.standard_normal((M, O)).astype(np.float32)


def median_ms(f):
    return median_seconds(f, n=30, pause=0.3) * 1e3


tx, tw, tdy = (torch.from_numpy(a) for a in (x2, w, dy))
for name, ours, theirs in [("x Wᵀ", lambda: sr.kernels.matmul(x2, w.T), lambda: tx @ tw.T),
                           ("dy W", lambda: sr.kernels.matmul(dy, w), lambda: tdy @ tw),
                           ("dyᵀ x", lambda: sr.kernels.matmul(dy.T, x2), lambda: tdy.T @ tx)]:
    a, b = median_ms(ours), median_ms(theirs)
    print(f"head GEMM {name:6s} ({M} × {O} × {I}): OpenBLAS {a:.3f} ms, torch {b:.3f} ms ({2 * M * O * I / a / 1e6:.0f} "
          f"and {2 * M * O * I / b / 1e6:.0f} GFLOP/s)")
