"""scratchrnn's LSTM and torch's on inputs scaled up until the gates saturate.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/subnormals.py

LSTM T=128 N=16 H=128 (I = H), float32, torch's initialisation (scratchrnn's weights in both);
x drawn from N(0, 1) and multiplied by a scale, the output's gradient from N(0, 1). A gate's
pre-activation far below zero gives a sigmoid under 2⁻¹²⁶ ≈ 1.2e-38: a subnormal float32 (the
float32 sigmoid is exact there to within its error bound, ``kernels.gates``). The count of
subnormal gate values is taken from the functional forward's cache (the same pass a module call
runs). Each scale: scratchrnn's forward alone, its forward+backward and torch's (2 threads) in
turn, 7 rounds of 5 calls (``rounds.py``).
"""
import numpy as np
import torch

from scratchrnn import LSTM, functional

from rounds import alternate, header, paired   # this folder's

T, N, H = 128, 16, 128
SCALES = (1, 10, 100, 1000)


def subnormal_gates(m, x):
    """How many of the forward's T·N·4H gate values are subnormal, and their share."""
    p = m.state_dict()
    zeros = np.zeros((N, H), np.float32)
    _, _, _, cache = functional.lstm_forward(x, zeros, zeros, p["weight_ih_l0"], p["weight_hh_l0"],
                                             p["bias_ih_l0"], p["bias_hh_l0"])
    g = cache.gates
    count = int(np.count_nonzero((g != 0) & (np.abs(g) < np.finfo(np.float32).tiny)))
    return count, count / g.size


def main():
    print(header())
    print(f"torch on {torch.get_num_threads()} threads; LSTM T={T} N={N} H={H} float32;"
          " ms: median over 7 rounds; scratchrnn/torch: the median over the rounds of the ratio within a round"
          " (least – largest)")
    rng = np.random.default_rng(0)
    base = rng.standard_normal((T, N, H)).astype(np.float32)
    d_out = rng.standard_normal((T, N, H)).astype(np.float32)
    m = LSTM(H, H, seed=0)
    tm = torch.nn.LSTM(H, H)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    for scale in SCALES:
        x = base * np.float32(scale)
        tx, td = torch.from_numpy(x).requires_grad_(), torch.from_numpy(d_out)

        def forward():
            m(x)

        def ours():
            m(x)
            m.backward(d_out)

        def theirs():
            out, _ = tm(tx)
            out.backward(td)
        times = alternate({"forward": forward, "scratchrnn": ours, "torch": theirs}, rounds=7)
        ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
        count, share = subnormal_gates(m, x)
        print(f"x × {scale}: scratchrnn's forward {ms['forward']:.2f} ms; forward+backward: scratchrnn "
              f"{ms['scratchrnn']:.2f} ms, torch {ms['torch']:.2f} ms; scratchrnn/torch "
              f"{paired(times, 'scratchrnn', 'torch')}; subnormal gate values {count} ({100 * share:.2f} %)",
              flush=True)


if __name__ == "__main__":
    main()
