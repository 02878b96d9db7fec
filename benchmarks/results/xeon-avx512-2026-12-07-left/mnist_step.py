"""Where one MNIST training step of the scratch backend spends its time, against torch's step.

    python benchmarks/results/xeon-avx512-2026-12-07-left/mnist_step.py

The task's model and optimizer (``scratchrnn train mnist``: a 2-layer LSTM of 128 on rows of 28
pixels, T=28, batch 100, a linear head on the last step, cross-entropy, Adam 1e-3), on random
images and labels (the time does not depend on the pixels). The phases of
``ScratchBackend.train_step`` are timed one by one; ``TorchBackend.train_step`` (torch CPU) is
timed whole. 12 rounds, each 8 scratch steps and then 8 torch steps, each library's steps after a
pause of ``measure.PAUSE_S`` (so that neither library's idle threads still spin when the other
starts, as in the benchmark's rounds), after 4 steps of each to warm up; each phase's median over
all 96 steps. The medians of the phases need not add up to the whole step's.
"""
import collections
import time

import numpy as np

import scratchrnn as sr
from scratchrnn.apps.tasks.backends import ScratchBackend, TorchBackend, build_models
from scratchrnn.bench import environment, measure

from alternate import header   # this folder's

environment.keep_freed_memory()
import torch  # noqa: E402,F401  (after the allocator's settings, as the harness imports it)

T, N, I, H, LAYERS, CLASSES = 28, 100, 28, 128, 2, 10
ROUNDS, STEPS, WARM = 12, 8, 4
TORCH = "torch CPU's whole step"

rng = np.random.default_rng(0)
images = [rng.random((T, N, I), dtype=np.float32) for _ in range(STEPS)]
labels = [rng.integers(0, CLASSES, N) for _ in range(STEPS)]
scratch = ScratchBackend(*build_models("lstm", I, H, LAYERS, CLASSES, "float32", 0), optimizer="adam", lr=1e-3)
theirs = TorchBackend(*build_models("lstm", I, H, LAYERS, CLASSES, "float32", 0), optimizer="adam", lr=1e-3,
                      device="cpu")
core, head = scratch.core, scratch.head
phases = collections.defaultdict(list)


def scratch_step(x, y, keep):
    """``ScratchBackend.train_step`` for the "ce_last" loss, its phases timed (without its
    handling of a divergence, which only runs after a refusal)."""
    marks, names = [time.perf_counter()], []

    def mark(name):
        marks.append(time.perf_counter())
        names.append(name)
    core.train()
    out, _ = core(x, None); mark("LSTM forward (2 layers)")
    pred = head(out[-1]); mark("head forward")
    _, d_pred = sr.cross_entropy(pred, y); mark("cross-entropy")
    d_out = scratch._last_step_grad(out, head.backward(d_pred)); mark("head backward")
    core.backward(d_out, input_grad=False); mark("LSTM backward (2 layers)")
    sr.clip_grad_norm([core, head], np.inf); mark("gradient norm")
    scratch.opt.step(); mark("Adam step")
    scratch.opt.zero_grad(); mark("zero_grad")
    if keep:
        for name, t0, t1 in zip(names, marks, marks[1:]):
            phases[name].append(t1 - t0)
        phases["whole step"].append(marks[-1] - marks[0])


def torch_step(x, y, keep):
    t = time.perf_counter()
    theirs.train_step(x, y, None, "ce_last")
    if keep:
        phases[TORCH].append(time.perf_counter() - t)


print(header())
for i in range(WARM):
    scratch_step(images[i], labels[i], False)
    torch_step(images[i], labels[i], False)
for _ in range(ROUNDS):
    for step in (scratch_step, torch_step):
        time.sleep(measure.PAUSE_S)
        for x, y in zip(images, labels):
            step(x, y, True)
whole = np.median(phases["whole step"])
for name, seconds in phases.items():
    share = f"{np.median(seconds) / whole:6.1%}" if name != TORCH else ""
    print(f"{name:26s} {np.median(seconds) * 1e3:7.2f} ms {share}")
print(f"scratch over torch: {whole / np.median(phases[TORCH]):.3f}")
