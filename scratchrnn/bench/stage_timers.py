"""Timers for the stage profile (``scratchrnn.bench.stages``): wrappers put in place of what a
module call runs, timing each piece into a log, and taken out again afterwards.

- ``passes_timed``: the compiled passes, and each one's GEMM stages run again alone;
- ``rest_timed``: what a call does outside them that costs more than bookkeeping: the scans
  for NaN and inf (``checks.all_finite``: the input, the output's gradient, the states), the
  weights laid out for the per-step products (``layout.forward_weights``, ``backward_weights``:
  transposed copies, panels), and BLAS held on one thread around a blocked pass
  (``team.serial_blas``).

The wrappers replace module attributes that the library looks up at call time, so the code
timed is the code the benchmark runs.
"""

import time
from contextlib import contextmanager

from scratchrnn import checks, layout
from scratchrnn.kernels import passes, team


def _adder(log):
    def add(name, seconds):
        log[name] = log.get(name, 0.0) + seconds
    return add


@contextmanager
def passes_timed(model, log):
    """Replace the model's compiled passes (``passes.<model>_forward_pass``, ``_backward_pass``
    and their ``_blocks`` forms) by wrappers that time each pass into ``log`` and then its GEMM
    stages alone (see ``scratchrnn.bench.stages``); the stages' second run is logged as "rerun",
    which the caller takes off the module call's time."""
    add = _adder(log)

    def forward_stages(args, nblocks):                # args: project's, then the kernel's
        if nblocks == 1:
            passes.project(*args[:5])
        else:
            passes.project_blocks(*args[:5], nblocks)

    def backward_stages(args, nblocks):              # args: param_grads's, (projection_grad's), the kernel's
        projected = model == "lstm" and args[19].size > 0   # dw_hr not empty
        if nblocks == 1:
            passes.param_grads(*args[:15])
            if projected:
                passes.projection_grad(*args[15:21])
        else:
            passes.param_grads_blocks(*args[:15], nblocks)
            if projected:
                passes.projection_grad_blocks(*args[15:21], nblocks)

    def timed(run, stages, pass_name, stage_name, blocked):
        def wrapper(*args):
            nblocks = args[0] if blocked else 1
            t0 = time.perf_counter()
            run(*args)
            t1 = time.perf_counter()
            stages(args[2:] if blocked else args, nblocks)
            t2 = time.perf_counter()
            add(pass_name, t1 - t0)
            add(stage_name, t2 - t1)
            add("rerun", t2 - t1)
        return wrapper

    names = {}
    for direction, stages, stage_name in (("forward", forward_stages, "projection"),
                                          ("backward", backward_stages, "gradients")):
        for form in ("pass", "blocks"):
            name = f"{model}_{direction}_{form}"
            names[name] = getattr(passes, name)
            setattr(passes, name, timed(names[name], stages, f"{direction} pass", stage_name, form == "blocks"))
    try:
        yield
    finally:
        for name, original in names.items():
            setattr(passes, name, original)


# What ``rest_timed`` times: log key -> (object, attribute names) wrapped in place.
REST_PIECES = {
    "scans": (checks, ("all_finite",)),
    "layout": (layout, ("forward_weights", "backward_weights")),
    "blas hold": (team.serial_blas, ("__enter__", "__exit__")),
}


@contextmanager
def rest_timed(log):
    """Replace the pieces of ``REST_PIECES`` by wrappers that add their time into ``log`` under
    their key (0 where none ran)."""
    add = _adder(log)

    def timed(run, key):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return run(*args, **kwargs)
            finally:
                add(key, time.perf_counter() - t)
        return wrapper

    originals = []
    for key, (owner, names) in REST_PIECES.items():
        log[key] = 0.0
        for name in names:
            originals.append((owner, name, getattr(owner, name)))
            setattr(owner, name, timed(getattr(owner, name), key))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
