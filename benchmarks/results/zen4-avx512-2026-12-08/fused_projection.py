"""The LSTM's input projection inside the forward's time loop, against the package's way, on one
thread's block of rows (float32, panels; a blocked pass gives each thread such a block).

- kernel: ``passes.project`` over the block's T·rows rows (BLAS on one thread, the biases
  written first), then ``loops.lstm_forward_kernel``, whose every step adds ``h_{t-1} W_hhᵀ`` to
  the step's projection, from the panels of ``W_hhᵀ``, into the gates and evaluates them;
- package: the same, with the kernel's lines copied below (``steps``, ``gate_step``), so that
  the fused way evaluates its gates with the same compiled lines (the output's second column
  says whether the copy gave the kernel's h, bit for bit);
- fused: every step copies ``x_t`` and ``h_{t-1}`` side by side into a (rows, I + H) buffer and
  takes ``b + [x_t | h_{t-1}] [W_ih | W_hh]ᵀ`` in one product from the panels of the stacked
  weights, then the same gate lines: the projection's T·rows × 4H values never go to memory
  and back.

Each variant whole, then the package's and the fused way's products alone (no gates), 9 rounds
taking turns (``rounds.alternate``); the fused way's h against the package's (largest
difference: the sums are rounded in another order). Run it with the package installed:

    python benchmarks/results/zen4-avx512-2026-12-08/fused_projection.py
"""
import math
import sys
from pathlib import Path

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from scratchrnn.kernels import loops, panels, passes
from scratchrnn.kernels.gates import sigmoid, tanh

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import alternate, header, paired   # noqa: E402  (the tried folder's)

ROUNDS = 9
# (T, rows of the block, H, I): T=128 N=64 H=128 and T=32 N=256 H=128 in two blocks; MNIST's
# two layers (T=28, N=100 in two blocks; I = 28, then 128); the LSTM at T=128 N=64 H=512
SHAPES = [(128, 32, 128, 128), (32, 128, 128, 128), (28, 50, 128, 28), (28, 50, 128, 128),
          (128, 32, 512, 512)]


JIT = njit(error_model="numpy")      # as the package's kernels: no checks that keep LLVM from vectorising


@JIT
def gate_step(t, gates, c, tanh_c, h):
    """Step t's gates and states from its pre-activations in ``gates[t]``: the lines of
    ``loops.lstm_forward_kernel``, float32."""
    N, G = gates.shape[1], gates.shape[2]
    H = G // 4
    for s in range(N):
        for j in range(2 * H):
            gates[t, s, j] = sigmoid(gates[t, s, j], True)
        for j in range(2 * H, 3 * H):
            gates[t, s, j] = tanh(gates[t, s, j], True)
        for j in range(H):
            gates[t, s, 3 * H + j] = sigmoid(gates[t, s, 3 * H + j], True)
        for j in range(H):
            c[t + 1, s, j] = gates[t, s, H + j] * c[t, s, j] + gates[t, s, j] * gates[t, s, 2 * H + j]
        for j in range(H):
            tanh_c[t, s, j] = tanh(c[t + 1, s, j], True)
        for j in range(H):
            h[t + 1, s, j] = gates[t, s, 3 * H + j] * tanh_c[t, s, j]


@JIT
def steps(xw, w_hh_panels, h, c, gates, tanh_c, with_gates):
    """The package's time loop: ``gates[t] = xw[t] + h[t] W_hhᵀ``, then the gates."""
    for t in range(xw.shape[0]):
        panels.panels_add_into(gates[t], xw[t], h[t], w_hh_panels)
        if with_gates:
            gate_step(t, gates, c, tanh_c, h)


@JIT
def fused_steps(x, bias_rows, w_cat_panels, xh, h, c, gates, tanh_c, with_gates):
    """The same loop with each step's product over [x_t | h_{t-1}] and the stacked weights."""
    I = x.shape[2]
    for t in range(x.shape[0]):
        xh[:, :I] = x[t]
        xh[:, I:] = h[t]
        panels.panels_add_into(gates[t], bias_rows, xh, w_cat_panels)
        if with_gates:
            gate_step(t, gates, c, tanh_c, h)


def packed(b):
    out = np.empty(panels.panels_shape(*b.shape, b.dtype), b.dtype)
    return panels.pack_into(b, out)


def run(T, R, H, I):
    rng = np.random.default_rng(0)
    G, s = 4 * H, 1 / math.sqrt(H)
    x = rng.standard_normal((T, R, I)).astype(np.float32)
    w_ih = rng.uniform(-s, s, (G, I)).astype(np.float32)
    w_hh = rng.uniform(-s, s, (G, H)).astype(np.float32)
    b_ih, b_hh = (rng.uniform(-s, s, G).astype(np.float32) for _ in range(2))
    w_hh_panels = packed(np.ascontiguousarray(w_hh.T))
    w_cat_panels = packed(np.ascontiguousarray(np.concatenate([w_ih, w_hh], axis=1).T))
    bias_rows = np.ascontiguousarray(np.broadcast_to(b_ih + b_hh, (R, G)))
    lengths = np.full(R, T, np.int64)
    no_proj = np.empty((H, 0), np.float32)

    def arrays():
        return (np.zeros((T + 1, R, H), np.float32), np.zeros((T + 1, R, H), np.float32),
                np.empty((T, R, G), np.float32), np.empty((T, R, H), np.float32))
    xw = np.empty((T, R, G), np.float32)
    xh = np.empty((R, I + H), np.float32)
    h_p, c_p, gates_p, tanh_p = arrays()
    h_f, c_f, gates_f, tanh_f = arrays()
    h_k, c_k, gates_k, tanh_k = arrays()

    def projection():
        passes.project(x.reshape(T * R, I), w_ih, b_ih, b_hh, xw.reshape(T * R, G))

    def kernel():                    # the package's forward for the block, as a blocked pass runs it
        projection()
        loops.lstm_forward_kernel(xw, w_hh_panels, no_proj, h_k, c_k, h_k[1:], gates_k, tanh_k,
                                  lengths, 0, 0, R)

    def package(with_gates=True):    # the same with the gates' lines below
        projection()
        steps(xw, w_hh_panels, h_p, c_p, gates_p, tanh_p, with_gates)

    def fused(with_gates=True):
        fused_steps(x, bias_rows, w_cat_panels, xh, h_f, c_f, gates_f, tanh_f, with_gates)

    with threadpool_limits(1):
        kernel(), package(), fused()
        same = np.array_equal(h_k, h_p)
        diff = float(np.abs(h_p - h_f).max())
        whole = alternate({"kernel": kernel, "package": package, "fused": fused}, ROUNDS)
        products = alternate({"package": lambda: package(False), "fused": lambda: fused(False)}, ROUNDS)
    flops = 2 * T * R * G * (I + H)
    line = f"{T} {R} {H} {I} | {np.median(whole['kernel']) * 1e3:.3f} ms, {same}"
    for times in (whole, products):
        line += (f" | {np.median(times['package']) * 1e3:.3f}, {np.median(times['fused']) * 1e3:.3f} ms"
                 f" ({flops / np.median(times['package']) / 1e9:.0f}, {flops / np.median(times['fused']) / 1e9:.0f}"
                 f" GFLOP/s), {paired(times, 'fused', 'package')}")
    print(line + f" | {diff:.2e}", flush=True)


def main():
    print(header())
    print("T rows H I | the package's kernel: ms, same h as its lines copied here"
          " | forward: package, fused (GFLOP/s of the products), fused/package paired"
          " | products alone: the same | largest |h difference|")
    for shape in SHAPES:
        run(*shape)


if __name__ == "__main__":
    main()
