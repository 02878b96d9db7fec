"""torch's matmul on a point's GEMM stages: the products of the stage profile's GEMM stages
(``stages.GEMM_STAGES``), with the same shapes, run through torch on its CPU threads.

``bench.misses`` asks it, for a miss that the GEMM stages hold back, whether another library
on the machine runs those products faster than scratchrnn's kernels did. The products, for a
point of the grid (one layer, I = H, G gates; x (T·N, H), W_ih (G·H, H), W_hh (G·H, H)):

- input projection: ``x W_ihᵀ + b``, one ``addmm`` over all T·N rows;
- forward per-step products: T ``addmm`` of h_{t-1} (N, H) by ``W_hhᵀ`` plus xw_t, a new
  (N, G·H) slice of a (T, N, G·H) array each step (the GRU's without xw_t: ``mm``);
- backward per-step products: T ``mm`` of da_t (N, G·H) by ``W_hh``. As the profile times
  ours, h_{t-1} and da_t are one array each, used every step (in a time loop the step before
  has just written them);
- weight/input gradients: dx = da W_ih, dW_ih += daᵀ x, dW_hh += daᵀ h, each one GEMM over all
  T·N rows (``mm``, ``addmm_``), and the bias sums (one column sum of da; the GRU's two, of the
  input's and the recurrent part's).

The same products, not always the same sums: scratchrnn adds the weight gradients up in chunks
and pieces of rows (``scratchrnn.layout.gradient_pieces``), which keep every term's rounding
within torch's bound for its per-step sums and fit BLAS's small-matrix kernels; torch's one GEMM
over all rows is the fastest way it offers, whatever its rounding. Ours adds both biases where
torch's projection adds one.

Each stage's time is the fastest of ``repeats`` runs after one untimed run, all of a stage's
products in each, torch on its default threads (as the grid's ``torch_cpu``), with a pause
before each stage so that other threads have gone idle. The fastest, not the median: set
against the profile's medians it gives torch the benefit of every doubt, so that a stage
called no faster in torch is not so for want of a lucky sample (torch's median for the LSTM's
input projection at T=32 N=16 H=128 ranged over 2.7 times from run to run on a 2-core Zen 4).
The per-step products are one call from Python each, so a small product's time includes
torch's dispatch of it (a few microseconds): what torch's matmul costs a loop that calls it
step by step.
"""

# -- configuration -----------------------------------------------------------
SEED = 0
# -----------------------------------------------------------------------------

import time

import numpy as np

from scratchrnn.bench import measure, stages
from scratchrnn.bench.spec import gates


def products(model, T, N, H, dtype="float32"):
    """{stage: a call that runs that GEMM stage's products once through torch}, keyed as
    ``stages.GEMM_STAGES``, and the tensors they read and write, by name (for tests)."""
    import torch
    G = gates(model)
    rng = np.random.default_rng(SEED)
    arrays = {name: torch.from_numpy(rng.standard_normal(shape).astype(dtype)) for name, shape in (
        ("x", (T * N, H)), ("w_ih", (G * H, H)), ("w_hh", (G * H, H)), ("b", (G * H,)),
        ("h_prev", (N, H)), ("xw", (T, N, G * H)), ("da_step", (N, G * H)), ("da", (T * N, G * H)),
        ("d_ah", (T * N, G * H)), ("h", (T * N, H)))}
    arrays.update({name: torch.zeros(shape, dtype=arrays["x"].dtype) for name, shape in (
        ("xw_all", (T * N, G * H)), ("a", (N, G * H)), ("delta", (N, H)), ("dx", (T * N, H)),
        ("dw_ih", (G * H, H)), ("dw_hh", (G * H, H)), ("db_ih", (G * H,)), ("db_hh", (G * H,)))})
    d_ah = arrays["d_ah"] if model == "gru" else arrays["da"]          # the GRU's recurrent part has its own

    def projection():
        torch.addmm(arrays["b"], arrays["x"], arrays["w_ih"].t(), out=arrays["xw_all"])

    def forward_products():
        for s in range(T):
            if model == "gru":
                torch.mm(arrays["h_prev"], arrays["w_hh"].t(), out=arrays["a"])
            else:
                torch.addmm(arrays["xw"][s], arrays["h_prev"], arrays["w_hh"].t(), out=arrays["a"])

    def backward_products():
        for _ in range(T):
            torch.mm(arrays["da_step"], arrays["w_hh"], out=arrays["delta"])

    def gradients():
        torch.mm(arrays["da"], arrays["w_ih"], out=arrays["dx"])
        arrays["dw_ih"].addmm_(arrays["da"].t(), arrays["x"])
        arrays["dw_hh"].addmm_(d_ah.t(), arrays["h"])
        torch.sum(arrays["da"], 0, out=arrays["db_ih"])
        if model == "gru":
            torch.sum(d_ah, 0, out=arrays["db_hh"])

    calls = dict(zip(stages.GEMM_STAGES, (projection, forward_products, backward_products, gradients)))
    return calls, arrays


def gemm_stages(model, T, N, H, dtype, repeats):
    """The fastest seconds of each GEMM stage's products through torch (``products``): a dict
    keyed as ``stages.GEMM_STAGES``."""
    calls, _ = products(model, T, N, H, dtype)
    out = {}
    for stage, call in calls.items():
        time.sleep(measure.PAUSE_S)
        call()                                     # untimed: wakes torch's threads
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        out[stage] = min(times)
    return out


def best_seconds(profiled, torch_stages):
    """Seconds of the GEMM stages, each at the faster of the profile's time and torch's."""
    return sum(min(profiled[stage], torch_stages[stage]) for stage in stages.GEMM_STAGES)


def markdown_line(model, T, N, H, profiled, torch_stages):
    """One line for under a point's stage table: torch's time and rate at each GEMM stage against
    the profile's."""
    flop = stages.gemm_gflops(model, T, N, H)
    parts = [f"{stage} {torch_stages[stage] * 1e3:.2f} ms ({flop[stage] / torch_stages[stage]:.0f} GFLOP/s; "
             f"ours {flop[stage] / profiled[stage]:.0f})" for stage in stages.GEMM_STAGES]
    return ("torch's matmul on the same GEMM stages (`scratchrnn.bench.torch_gemms`): " + "; ".join(parts)
            + f". The GEMM stages, each at the faster of the two: "
              f"{best_seconds(profiled, torch_stages) * 1e3:.2f} ms.")
