"""A backward's gradient GEMMs as the passes run them, against torch's matmul on the same products.

    python benchmarks/results/xeon-avx512-2026-12-07-left/gradient_gemms.py

``kernels.passes.param_grads_blocks`` over all T·N rows in the two row blocks of a pass on 2 cores
(BLAS on one thread in each: ``team.serial_blas``; dx, dW_ih and dW_hh in the chunks and pieces
``layout.gradient_pieces`` gives, added into the gradients, each block's share of the weight
gradients summed after, and the bias sums), float32, I = H, against:

- ``param_grads`` over half the rows on one thread, the other core idle, in the chunks and pieces
  of a block of the two (``gradient_pieces`` for two blocks): one block's work alone;
- ``param_grads`` over all rows with BLAS on both threads (the serial pass's way; the passes in
  row blocks keep BLAS's threads out, see ``kernels.team``);
- torch's matmul (MKL, both threads) on the three products, one GEMM each over all rows, into
  arrays kept from call to call, without the bias sums and the chunks (``scratchrnn.bench.misses``
  times torch's matmul on the stage with the bias sums, adding into the gradients, the fastest
  of several calls: a different measure).

The variants take turns, round after round (7 rounds of 5 calls, the median of each round).
GFLOP/s count the three products' FLOPs (half of them for the half).
"""
import numpy as np
import torch

from scratchrnn import layout
from scratchrnn.kernels import team
from scratchrnn.kernels.passes import param_grads, param_grads_blocks

from alternate import alternate, header, spread   # this folder's

# (model, T, N, H): misses of the 2026-12-07 grid, and the shape of MNIST's second layer (its first has I = 28)
POINTS = [("rnn", 32, 64, 1024), ("rnn", 32, 256, 512), ("gru", 32, 64, 1024), ("lstm", 32, 16, 512),
          ("lstm", 128, 64, 512), ("lstm", 28, 100, 128)]
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def point(model, T, N, H, rng):
    """The variants at one point: {name: function}."""
    G, f32 = GATES[model], np.float32
    R, GH = T * N, GATES[model] * H
    x2, h2 = rng.standard_normal((R, H)).astype(f32), rng.standard_normal((R, H)).astype(f32)
    w_ih, w_hh = rng.standard_normal((GH, H)).astype(f32), rng.standard_normal((GH, H)).astype(f32)
    d_a2 = rng.standard_normal((R, GH)).astype(f32)
    d_ah2 = rng.standard_normal((R, GH)).astype(f32) if model == "gru" else np.empty((0, GH), f32)
    dx2 = np.empty((R, H), f32)
    grads = [np.zeros((GH, H), f32), np.zeros((GH, H), f32), np.zeros(GH, f32), np.zeros(GH, f32)]
    partials = [np.zeros((1, GH, H), f32), np.zeros((1, GH, H), f32)]
    chunked = model != "lstm"                        # the RNN's and GRU's dW_hh in chunks (kernels.sums)

    def rows(r1):
        return x2[:r1], h2[:r1], w_ih, d_a2[:r1], d_ah2[:r1], dx2[:r1], *grads, *partials

    pieces = layout.gradient_pieces(T, N, 2, chunked, w_ih, w_hh)   # (chunk_rows, piece_rows, piece_cols)

    def blocks():
        with team.serial_blas(2):
            param_grads_blocks(*rows(R), *pieces, 2)

    def half_alone():
        with team.serial_blas(2):
            param_grads(*rows(R // 2), *pieces)

    def serial():
        param_grads(*rows(R), *layout.gradient_pieces(T, N, 1, chunked, w_ih, w_hh))

    t_x, t_h, t_w, t_da = map(torch.from_numpy, (x2, h2, w_ih, d_a2))
    t_dx, t_dw_ih, t_dw_hh = map(torch.from_numpy, (dx2, grads[0], grads[1]))

    def torch_gemms():
        torch.mm(t_da, t_w, out=t_dx)
        torch.mm(t_da.T, t_x, out=t_dw_ih)
        torch.mm(t_da.T, t_h, out=t_dw_hh)

    return {"2 row blocks": blocks, "half the rows, 1 thread": half_alone,
            "all rows, BLAS on 2 threads": serial, "torch's matmul": torch_gemms}


print(header())
rng = np.random.default_rng(0)
for model, T, N, H in POINTS:
    times = alternate(point(model, T, N, H, rng), rounds=7)
    gflop = 3 * 2 * T * N * GATES[model] * H * H / 1e9
    print(f"{model} T={T} N={N} H={H} (ms: median of the rounds (least – largest); GFLOP/s at the median)")
    for name, seconds in times.items():
        work = gflop / 2 if name.startswith("half") else gflop
        print(f"    {name:28s} {spread(seconds):24s} {work / np.median(seconds):5.0f}")
