"""Forward+backward time of scratchrnn against torch CPU, side by side in one run.

    python -m benchmarks [--repeats 5] [--out benchmarks/results] [--name core_cpu]
    scratchrnn bench [same arguments]

Per point (model, T, N, H; I = H; float32) both implementations start from the
same weights, read the same input and get the same upstream gradient. Blocks of
calls are interleaved (ours ×B, pause, torch ×B, pause, ...): within a block the
threads are warm, and the pause between candidates lets OpenBLAS and OpenMP
workers stop spinning, which would otherwise slow whichever side runs next
(PERF_NOTES.md, point 5). We report the median over all calls. The harness also
measures this machine's float32 GEMM peak in the same run (a 2048³ product).

Numba compile time is measured on its own: a fresh subprocess with an empty
NUMBA_CACHE_DIR runs one forward+backward of each model at a tiny size.
"""

# -- configuration -----------------------------------------------------------
SIZES = [(128, 1, 32), (128, 16, 128), (64, 64, 512)]   # (T, N, H), I = H
MODELS = ["lstm", "gru", "rnn"]
DTYPE = "float32"
REPEATS = 5              # blocks per candidate
BLOCK = 5                # calls per block; the first call of a block is not timed
PAUSE_S = 0.3            # between candidates, so spinning BLAS workers go idle
SEED = 0
# -----------------------------------------------------------------------------

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np


def flops(model, T, N, I, H):
    """Multiply-adds ×2 of the GEMMs in forward+backward (elementwise work ignored).

    Forward: input and recurrent projections, 2·T·N·(I + H)·G·H. Backward: three GEMMs
    of the same size each (dW_ih + dx on the input side, dW_hh + δ on the recurrent side).
    """
    G = {"lstm": 4, "gru": 3}.get(model, 1)
    return 3 * 2 * T * N * (I + H) * G * H


def _pair(model, T, N, H):
    import torch
    import scratchrnn as sr
    if model == "lstm":
        m = sr.LSTM(H, H, dtype=DTYPE, seed=SEED)
        tm = torch.nn.LSTM(H, H)
    elif model == "gru":
        m = sr.GRU(H, H, dtype=DTYPE, seed=SEED)
        tm = torch.nn.GRU(H, H)
    else:
        m = sr.RNN(H, H, dtype=DTYPE, seed=SEED)
        tm = torch.nn.RNN(H, H)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((T, N, H)).astype(DTYPE)        # (T, N, I)
    d_out = rng.standard_normal((T, N, H)).astype(DTYPE)    # (T, N, H)
    tx = torch.from_numpy(x).requires_grad_()
    t_d_out = torch.from_numpy(d_out)

    def ours():
        out, _ = m(x)
        m.backward(d_out)

    def theirs():
        out, _ = tm(tx)
        out.backward(t_d_out)
    return ours, theirs


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compile_seconds():
    """First call of each model's forward+backward with an empty Numba cache, in a fresh process."""
    code = ("import time, numpy as np, scratchrnn as sr\n"
            "for name, M in (('lstm', sr.LSTM), ('gru', sr.GRU), ('rnn', sr.RNN)):\n"
            "    m = M(2, 3, dtype=np.float32); x = np.ones((2, 1, 2), np.float32)\n"
            "    t = time.perf_counter(); out, _ = m(x); m.backward(out)\n"
            "    print(name, time.perf_counter() - t)\n")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
    return {line.split()[0]: float(line.split()[1]) for line in res.stdout.splitlines()}


def environment():
    import numba
    import torch
    return {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset (= cores)"),
            "dtype": DTYPE}


def gemm_peak(n=2048, repeats=5):
    """GFLOP/s of an n³ float32 GEMM through the same BLAS binding the kernels use."""
    from scratchrnn.kernels import matmul
    rng = np.random.default_rng(SEED)
    a, b = (rng.standard_normal((n, n)).astype(DTYPE) for _ in range(2))
    matmul(a, b)
    return 2 * n ** 3 / min(_time(lambda: matmul(a, b)) for _ in range(repeats)) / 1e9


def _block(fn, times):
    fn()                                             # not timed: wakes the thread pools
    for _ in range(BLOCK):
        times.append(_time(fn))
    time.sleep(PAUSE_S)


def run(repeats=REPEATS, peak=None):
    rows = []
    for model in MODELS:
        for T, N, H in SIZES:
            ours, theirs = _pair(model, T, N, H)
            for _ in range(2):                       # warm-up: JIT, allocator, oneDNN primitives
                ours(), theirs()
            t_ours, t_theirs = [], []
            for _ in range(repeats):                 # interleaved blocks
                _block(ours, t_ours)
                _block(theirs, t_theirs)
            a, b = float(np.median(t_ours)), float(np.median(t_theirs))
            f = flops(model, T, N, H, H)
            rows.append(dict(model=model, T=T, N=N, H=H, I=H, scratchrnn_ms=a * 1e3,
                             torch_ms=b * 1e3, ratio=a / b, scratchrnn_gflops=f / a / 1e9,
                             torch_gflops=f / b / 1e9,
                             scratchrnn_peak_fraction=None if peak is None else f / a / 1e9 / peak))
            print(f"{model:<5} T={T:<4} N={N:<3} H={H:<4} scratchrnn {a * 1e3:9.2f} ms   "
                  f"torch {b * 1e3:9.2f} ms   ratio {a / b:5.2f}", flush=True)
    return rows


def markdown(rows, compile_s, env, peak):
    lines = ["| model | T | N | H | scratchrnn ms | torch CPU ms | ratio (ours / torch) "
             "| scratchrnn GFLOP/s | torch GFLOP/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['T']} | {r['N']} | {r['H']} | {r['scratchrnn_ms']:.2f} | "
                     f"{r['torch_ms']:.2f} | **{r['ratio']:.2f}** | {r['scratchrnn_gflops']:.1f} "
                     f"| {r['torch_gflops']:.1f} |")
    lines.append("")
    threads = env.get("OPENBLAS_NUM_THREADS", "")
    threads = f"{env['cpus']} threads" if threads.startswith("unset") else f"{threads} thread(s)"
    lines.append(f"float32 GEMM peak measured in the same run (2048³, {threads}): {peak:.0f} GFLOP/s. "
                 "GFLOP/s count only the GEMMs (see flops()).")
    lines.append("")
    lines.append("Numba compile time, first call with an empty cache: "
                 + ", ".join(f"{k} {v:.2f} s" for k, v in compile_s.items()))
    lines.append("")
    lines.append("Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="scratchrnn bench", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=REPEATS, help="blocks per candidate")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"),
                   help="folder for the JSON and Markdown results (relative to the working directory)")
    p.add_argument("--name", default="core_cpu", help="file stem for the JSON and Markdown results")
    args = p.parse_args(argv)
    compile_s = compile_seconds()
    print("compile (empty cache):", compile_s, flush=True)
    env = environment()
    peak = gemm_peak()
    print(f"float32 GEMM peak: {peak:.0f} GFLOP/s", flush=True)
    rows = run(args.repeats, peak)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, args.name + ".json"), "w") as f:
        json.dump({"environment": env, "compile_s": compile_s, "gemm_peak_gflops": peak,
                   "blocks": args.repeats, "calls_per_block": BLOCK, "rows": rows}, f, indent=1)
    table = markdown(rows, compile_s, env, peak)
    with open(os.path.join(args.out, args.name + ".md"), "w") as f:
        f.write(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
