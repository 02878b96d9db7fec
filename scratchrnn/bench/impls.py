"""The implementations the grid times, each built at one point from the same weights and input.

- ``scratchrnn``: scratchrnn's modules with their Numba kernels;
- ``scratchrnn_nojit``: the same under ``NUMBA_DISABLE_JIT=1`` (``nojit.py``, a subprocess);
- ``scratchrnn_fresh``: the same with ``reuse_memory = False``: every call allocates its caches
  and scratch afresh instead of reusing its workspaces (``scratchrnn.workspace``), so the two
  side by side measure what the reuse buys;
- ``scratchrnn_serial``: the same on one thread (``numba.set_num_threads(1)`` around each call):
  every pass serial, BLAS on its own threads, as before passes ran in row blocks
  (``scratchrnn.kernels.team``); side by side it measures what the row blocks buy;
- ``torch_cpu``: ``torch.nn.RNN``/``LSTM``/``GRU`` on the CPU;
- ``torch_cpu_serial``: the same on one thread (``torch.set_num_threads(1)`` around each call).
  At small LSTM points torch on its default threads took from about 1x to 1.8x its one-thread
  time from sample to sample (benchmarks/results/zen5-avx512-2026-12-04b/torch_threads.md), so
  side by side it shows what a ratio to ``torch_cpu`` would be against torch at its steadier best;
- ``loop_cpu``: ``torch_ref.LoopRNN``/``LoopLSTM``/``LoopGRU``, a Python loop over time on
  torch, differentiated by autograd;
- ``torch_cuda`` (cuDNN) and ``loop_cuda``: the same two on the GPU (``CUDA_DEVICE``).
"""

from typing import Callable, NamedTuple

import numba
import numpy as np

from scratchrnn import registry
from scratchrnn.bench import timing
from scratchrnn.bench.spec import GPU_IMPLS

CUDA_DEVICE = "cuda"       # torch device of the *_cuda implementations (tests point it at "cpu")


class Impl(NamedTuple):
    """One implementation built at one point."""
    name: str
    device: str                          # torch device ("cpu", "cuda") or "cpu" for NumPy
    call: Callable[[], object]           # one timed call; returns the output (T, N, H)
    timer: Callable[[Callable], float]   # timing.wall_timer or timing.cuda_timer
    to_numpy: Callable[[object], np.ndarray]


def inputs(point, seed):
    """Returns (scratchrnn model, x (T, N, I), d_out (T, N, H)), all seeded."""
    m = registry.model_class(point.model)(point.I, point.H, dtype=point.dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((point.T, point.N, point.I)).astype(point.dtype)     # (T, N, I)
    d_out = rng.standard_normal((point.T, point.N, point.H)).astype(point.dtype)  # (T, N, H)
    return m, x, d_out


def scratch_impl(point, m, x, d_out, name="scratchrnn", threads=None):
    """scratchrnn's module m as an Impl: forward (caches kept), then backward for fwdbwd.

    ``threads``: Numba's thread count during the call (None: as it is), restored after.
    """
    def passes():
        if point.pass_ == "fwd":
            return m(x)[0]                               # (T, N, H)
        out, _ = m(x)                                    # (T, N, H)
        m.backward(d_out)                                # grads accumulate, as torch's do
        return out

    call = _on_threads(passes, threads, numba)
    return Impl(name, "cpu", call, timing.wall_timer, np.asarray)


def _on_threads(passes, threads, library):
    """``passes`` as it is (threads None), or run on ``threads`` of ``library``'s threads
    (numba or torch: ``set_num_threads``), the count it found restored after."""
    if threads is None:
        return passes

    def call():
        before = library.get_num_threads()
        library.set_num_threads(threads)
        try:
            return passes()
        finally:
            library.set_num_threads(before)
    return call


def torch_impl(name, point, state, x, d_out, threads=None):
    """torch.nn.* (``torch_*``) or torch_ref's Loop* (``loop_*``) as an Impl.

    Weights from ``state`` (scratchrnn's state_dict); x requires grad, as scratchrnn
    always computes dx; autograd records the graph in both passes. ``threads``: torch's
    intra-op thread count during the call (None: as it is), restored after.
    """
    import torch
    import torch_ref
    from torch_ref import as_numpy
    on_gpu = name in GPU_IMPLS
    device = CUDA_DEVICE if on_gpu else "cpu"
    dtype = getattr(torch, point.dtype)
    label = registry.kind(point.model).label
    cls = registry.torch_class(point.model) if name.startswith("torch_") \
        else getattr(torch_ref, "Loop" + label)
    module = cls(point.I, point.H, device=device, dtype=dtype)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    if hasattr(module, "flatten_parameters"):
        module.flatten_parameters()                      # cuDNN wants one weight buffer
    tx = torch.from_numpy(x).to(device).requires_grad_()     # (T, N, I)
    t_d_out = torch.from_numpy(d_out).to(device)             # (T, N, H)

    def passes():
        out, _ = module(tx)                              # (T, N, H)
        if point.pass_ == "fwdbwd":
            out.backward(t_d_out)
        return out

    call = _on_threads(passes, threads, torch)
    timer = timing.cuda_timer if on_gpu else timing.wall_timer
    return Impl(name, device, call, timer, as_numpy)


def build(point, names, seed):
    """Returns {name: Impl} for the in-process implementations at this point, all with
    scratchrnn's weights and the same input, and {name: error message} for those that failed."""
    m, x, d_out = inputs(point, seed)
    state = m.state_dict()
    impls, errors = {}, {}
    for name in names:
        try:
            if name == "scratchrnn":
                impls[name] = scratch_impl(point, m, x, d_out)
            elif name == "scratchrnn_fresh":
                fresh = registry.model_class(point.model)(point.I, point.H, dtype=point.dtype)
                fresh.load_state_dict(state)
                fresh.reuse_memory = False
                impls[name] = scratch_impl(point, fresh, x, d_out, name)
            elif name == "scratchrnn_serial":
                serial = registry.model_class(point.model)(point.I, point.H, dtype=point.dtype)
                serial.load_state_dict(state)
                impls[name] = scratch_impl(point, serial, x, d_out, name, threads=1)
            elif name == "torch_cpu_serial":
                impls[name] = torch_impl("torch_cpu_serial", point, state, x, d_out, threads=1)
            else:
                impls[name] = torch_impl(name, point, state, x, d_out)
        except Exception as e:                           # e.g. out of memory: record, go on
            errors[name] = f"{type(e).__name__}: {e}"
    return impls, errors
