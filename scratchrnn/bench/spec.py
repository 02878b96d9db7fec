"""What the grid benchmark measures: its points, its FLOP model, its names and its targets.

One timed call is a one-layer, one-direction model with I = H at a point (model, pass,
dtype, T, N, H): ``fwd`` is the training forward (autograd records its graph for torch,
scratchrnn keeps its caches); ``fwdbwd`` is that forward, then the backward of a fixed
random upstream gradient on every output (weight, bias and input gradients).

The full grid: models rnn (tanh), lstm, gru; T ∈ {32, 128}; N ∈ {1, 16, 64, 256};
H = I ∈ {32, 128, 512, 1024}; passes fwd and fwdbwd; float32 and float64. T=32 runs at
every (N, H); T=128 only where N·H ≤ 32768 (``grid_points``): past that every step's GEMMs
are large enough that time grows linearly in T, so the longer sequence shows nothing new.
"""

from typing import NamedTuple

from scratchrnn import registry

# -- configuration -----------------------------------------------------------
MODELS = list(registry.NAMES)             # rnn, lstm, gru
T_VALUES = [32, 128]
N_VALUES = [1, 16, 64, 256]
H_VALUES = [32, 128, 512, 1024]           # I = H
PASSES = ["fwdbwd", "fwd"]                # fwdbwd first: the targets are about it
DTYPES = ["float32", "float64"]
LONG_T_MAX_NH = 32768                     # T > min(T) only where N·H ≤ this (0: no limit)
IMPLS = ["scratchrnn", "scratchrnn_nojit", "scratchrnn_fresh", "scratchrnn_serial", "torch_cpu", "torch_cpu_serial",
         "loop_cpu", "torch_cuda", "loop_cuda"]
# on request: what one feature buys (memory reuse, threads), and torch on one thread
ON_REQUEST = ("scratchrnn_fresh", "scratchrnn_serial", "torch_cpu_serial")
DEFAULT_IMPLS = [i for i in IMPLS if i not in ON_REQUEST]
QUICK = dict(models=MODELS, T=[32], N=[1, 16], H=[32, 128], passes=["fwdbwd"],
             dtypes=["float32"])
SEED = 0

# scratchrnn's targets against torch CPU, forward+backward, measured in one run.
# float32, per model: at most SMALL_RATIO of torch's time where the per-step work N·H² is at
# most TARGET_SMALL_WORK (torch's fixed costs dominate there), at most RATIO everywhere else,
# and at least PEAK of the measured all-core float32 GEMM peak at TARGET_PEAK_POINT.
TARGET_SMALL_WORK = 16384                 # N·H² at most this: "small" points
TARGETS_FLOAT32 = {                       # model: (SMALL_RATIO, RATIO, PEAK)
    "lstm": (0.3, 0.8, 0.75),
    "rnn": (0.2, 0.7, 0.8),
    "gru": (0.2, 0.7, 0.8),
}
TARGET_RATIO_FLOAT64 = 0.5                # float64, every model, everywhere
TARGET_PEAK_POINT = (128, 64, 512)        # (T, N, H) of the peak target
# -----------------------------------------------------------------------------

GPU_IMPLS = ("torch_cuda", "loop_cuda")
TORCH_IMPLS = ("torch_cpu", "torch_cpu_serial", "loop_cpu") + GPU_IMPLS
IMPL_LABELS = {"scratchrnn": "scratchrnn", "scratchrnn_nojit": "scratchrnn no-JIT",
               "scratchrnn_fresh": "scratchrnn fresh memory", "scratchrnn_serial": "scratchrnn one thread",
               "torch_cpu": "torch CPU", "torch_cpu_serial": "torch CPU one thread", "loop_cpu": "loop CPU", "torch_cuda": "torch CUDA",
               "loop_cuda": "loop CUDA"}
PASS_LABELS = {"fwd": "forward", "fwdbwd": "forward+backward"}

# The one convention of every console line, table and plot.
RATIO = "time over torch CPU"
CONVENTION = "time over torch CPU's (below 1: faster than torch CPU)"


def gates(model):
    """G, the row blocks of W_ih per hidden unit (1 RNN, 4 LSTM, 3 GRU), from the registry."""
    return registry.kind(model).gates


class Point(NamedTuple):
    """One grid point; I = H."""
    model: str
    pass_: str           # "fwd" | "fwdbwd"
    dtype: str           # "float32" | "float64"
    T: int
    N: int
    H: int

    @property
    def I(self):
        return self.H

    def as_dict(self):
        return {"model": self.model, "pass": self.pass_, "dtype": self.dtype,
                "T": self.T, "N": self.N, "H": self.H, "I": self.I}

    @classmethod
    def from_dict(cls, d):
        return cls(d["model"], d["pass"], d["dtype"], int(d["T"]), int(d["N"]), int(d["H"]))

    def label(self):
        return f"{self.model} {self.pass_} {self.dtype} T={self.T} N={self.N} H={self.H}"


def grid_points(models=MODELS, Ts=T_VALUES, Ns=N_VALUES, Hs=H_VALUES, passes=PASSES,
                dtypes=DTYPES, long_t_max_nh=LONG_T_MAX_NH):
    """Returns the list of Points to run, in running order.

    The shortest T runs at every (N, H). Longer T run only where N·H ≤ ``long_t_max_nh``
    (0 or None: everywhere).
    """
    short = min(Ts)
    points = []
    for dtype in dtypes:
        for pass_ in passes:
            for model in models:
                for T in sorted(Ts):
                    for N in sorted(Ns):
                        for H in sorted(Hs):
                            if T > short and long_t_max_nh and N * H > long_t_max_nh:
                                continue
                            points.append(Point(model, pass_, dtype, T, N, H))
    return points


def flops(model, pass_, T, N, I, H):
    """GEMM floating-point operations of one call (multiply-adds × 2; elementwise work ignored).

    Forward: the input projection (T·N × I)·(I × G·H) and T recurrent products
    (N × H)·(H × G·H): 2·T·N·(I + H)·G·H. Backward: for each of those, one GEMM of the same
    size for the weight gradient and one for the gradient of its input (dx, or δ carried to
    the previous step), so forward+backward = 3 × forward.
    """
    fwd = 2 * T * N * (I + H) * gates(model) * H
    return fwd if pass_ == "fwd" else 3 * fwd


def key(row):
    """A row's point as a tuple (model, pass, dtype, T, N, H)."""
    return (row["model"], row["pass"], row["dtype"], row["T"], row["N"], row["H"])


def combos(rows):
    """(dtype, pass) pairs present, float32 and fwdbwd first."""
    return sorted({(r["dtype"], r["pass"]) for r in rows},
                  key=lambda c: (DTYPES.index(c[0]) if c[0] in DTYPES else 9,
                                 PASSES.index(c[1]) if c[1] in PASSES else 9))


def impls_in(rows):
    """Implementations present in ``rows``, in IMPLS order."""
    return [i for i in IMPLS if any(r["impl"] == i for r in rows)]


def models_in(rows):
    return [m for m in MODELS if any(r["model"] == m for r in rows)]


def fmt_ratio(r):
    """A ratio with three significant digits, never "0.00×": 0.00312×, 0.48×, 1.53×, 114×."""
    if r is None:
        return ""
    return f"{r:.3g}×" if r < 100 else f"{r:.0f}×"
