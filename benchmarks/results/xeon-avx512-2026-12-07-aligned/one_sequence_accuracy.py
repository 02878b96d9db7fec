"""float32 gradients at one sequence (T=64 N=1 H=128) against the float64 truth, ours and torch's:
for each gradient, the geometric mean over 8 problems of our RMS error over torch's, as
``tests/test_float32_accuracy.py`` measures it (its ``layer_ratios``, from the checkout whose
package runs).

    PYTHONPATH=CHECKOUT python benchmarks/results/xeon-avx512-2026-12-07-aligned/one_sequence_accuracy.py [--own-loops]

``--own-loops``: one row's products in the own loops (``panels.use_panels`` refuses one row), not
from panels. ``one_sequence_accuracy.sh`` runs it with the package before c was added last
(ad79965) and after. Needs torch.
"""
import sys
from pathlib import Path

import numpy as np
import scratchrnn
import torch
from scratchrnn import layout
from scratchrnn.kernels import panels

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xeon-avx512-2026-12-07-tried"))
from rounds import header   # noqa: E402  (the tried folder's)

sys.path.insert(0, str(Path(scratchrnn.__file__).resolve().parents[1] / "tests"))
import test_float32_accuracy as accuracy   # noqa: E402  (the checkout's own test helpers)


def main():
    print(header())
    print(f"package: {scratchrnn.__file__}")
    if "--own-loops" in sys.argv:
        kept = panels.use_panels
        panels.use_panels = lambda rows, K, M, dtype: rows > 1 and kept(rows, K, M, dtype)
    accuracy.T, accuracy.N, accuracy.H = 64, 1, 128
    way = "panels" if layout.forward_weights(np.zeros((512, 128), np.float32), 1, 1).ndim == 3 else "own loops"
    print(f"T=64 N=1 H=128, one row's products: {way}; ours over torch's RMS error from the float64 truth "
          "(geometric mean over 8 problems; below 1: closer than torch)")
    for kind in ("tanh", "lstm", "gru"):
        print(kind, accuracy.layer_ratios(torch, kind), flush=True)


if __name__ == "__main__":
    main()
