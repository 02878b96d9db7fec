"""``scratchrnn verify``: every output and gradient against torch and finite differences.

For each configuration (model, layers, directions, bias, batch_first, initial
states, dtype) the scratchrnn module and the torch module start from the same
weights, read the same non-contiguous input, and receive the same random
upstream gradients on every output (out, h_n, c_n). We compare the outputs, the
final states and the gradients of the input, of the initial states and of every
parameter. In float64 the finite-difference oracle (``sr.gradcheck``) checks
the same gradients without torch.

Tolerances, per tensor:
- float64 against torch: ``max|a − b| / max|b| ≤ 1e-10``. Both sides do the same
  float64 operations in a different order; rounding differences stay near 1e-15.
- float32 against torch: ``torch.testing.assert_close`` defaults (rtol 1.3e-6,
  atol 1e-5), elementwise.
- float64 against finite differences: ``sr.gradcheck``'s 1e-6 (see its docstring).

``device="cuda"`` runs the torch side on the GPU (cuDNN) with the same tolerances. TF32
is switched off for the run (and restored after): with it, cuDNN may round float32
products to 10-bit mantissas, an error of about 1e-3 that no float32 tolerance admits.
"""

import contextlib
import dataclasses
import itertools
from typing import Optional

import numpy as np

import scratchrnn as sr
from scratchrnn.gradcheck import GradcheckError

TOL_F64 = 1e-10
RTOL_F32, ATOL_F32 = 1.3e-6, 1e-5
FD_TOL = 1e-6
MODELS = ("rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru")


@dataclasses.dataclass(frozen=True)
class Config:
    model: str                 # "rnn_tanh" | "rnn_relu" | "lstm" | "lstm_proj" | "gru"
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    batch_first: bool = False
    initial_state: bool = True
    dtype: str = "float64"
    T: int = 4
    N: int = 3
    I: int = 3
    H: int = 4

    @property
    def is_lstm(self):
        return self.model in ("lstm", "lstm_proj")

    @property
    def proj_size(self):
        """lstm_proj projects to H // 2 (so H must be at least 2); every other model: 0."""
        return self.H // 2 if self.model == "lstm_proj" else 0

    @property
    def name(self):
        return (f"{self.model} L{self.num_layers} {'bi ' if self.bidirectional else 'uni'}"
                f"{' bias' if self.bias else ' ----'}{' bf' if self.batch_first else ' tm'}"
                f"{' hx' if self.initial_state else ' --'} {self.dtype}")


def matrix(models=MODELS, layers=(1, 2, 3), dtypes=("float32", "float64")):
    """The full grid: every model × layers × directions × bias × batch_first × hx × dtype."""
    for model, L, bi, bias, bf, hx, dt in itertools.product(
            models, layers, (False, True), (True, False), (False, True), (True, False), dtypes):
        yield Config(model, L, bi, bias, bf, hx, dt)


def build(cfg: Config, seed=0, device="cpu"):
    """(scratchrnn module, torch module) with identical weights, torch's on ``device``."""
    import torch
    m = _scratch_module(cfg, seed)
    kw = dict(num_layers=cfg.num_layers, bias=cfg.bias, batch_first=cfg.batch_first,
              bidirectional=cfg.bidirectional, dtype=getattr(torch, cfg.dtype))
    if cfg.is_lstm:
        tm = torch.nn.LSTM(cfg.I, cfg.H, proj_size=cfg.proj_size, **kw)
    elif cfg.model == "gru":
        tm = torch.nn.GRU(cfg.I, cfg.H, **kw)
    else:
        tm = torch.nn.RNN(cfg.I, cfg.H, nonlinearity=cfg.model.split("_")[1], **kw)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    return m, tm.to(device)


def _inputs(cfg: Config, rng):
    """Random x (a non-contiguous view) and initial states; None states without hx."""
    D = 2 if cfg.bidirectional else 1
    shape = (cfg.N, cfg.T, cfg.I) if cfg.batch_first else (cfg.T, cfg.N, cfg.I)
    wide = rng.standard_normal(shape[:-1] + (2 * cfg.I,)).astype(cfg.dtype)
    x = wide[..., ::2]                                   # non-contiguous on purpose
    sizes = (cfg.proj_size or cfg.H, cfg.H) if cfg.is_lstm else (cfg.H,)   # h (P or H), c (H)
    states = [rng.standard_normal((cfg.num_layers * D, cfg.N, F)).astype(cfg.dtype)
              if cfg.initial_state else None for F in sizes]
    return x, states


def _errors(pairs, dtype):
    """name -> (max-norm relative error, pass?) for pairs of (ours, reference)."""
    out = {}
    for name, (a, b) in pairs.items():
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        err = float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(np.float64).tiny))
        if dtype == "float64":
            ok = err <= TOL_F64
        else:
            ok = bool(np.all(np.abs(a - b) <= ATOL_F32 + RTOL_F32 * np.abs(b)))
        out[name] = (err, ok and bool(np.isfinite(a).all()))
    return out


def check_torch(cfg: Config, seed=0, device="cpu"):
    """Compare outputs, states and all gradients with torch on ``device``: name -> (error, ok)."""
    import torch
    rng = np.random.default_rng(seed)
    m, tm = build(cfg, seed, device)
    x, states = _inputs(cfg, rng)
    lstm = cfg.is_lstm
    hx = (tuple(states) if lstm else states[0]) if cfg.initial_state else None
    out, fin = m(x, hx)
    fin = fin if lstm else (fin,)
    ups = [rng.standard_normal(a.shape).astype(cfg.dtype) for a in (out,) + tuple(fin)]
    dx, d0 = m.backward(ups[0], tuple(ups[1:]) if lstm else ups[1])
    d0 = d0 if lstm else (d0,)

    def leaf(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(device).requires_grad_()

    def host(t):
        return t.detach().cpu().numpy()

    tx = leaf(x)
    ts = [leaf(s) for s in states] if cfg.initial_state else None
    t_out, t_fin = tm(tx, (tuple(ts) if lstm else ts[0]) if ts else None)
    t_fin = t_fin if lstm else (t_fin,)
    loss = sum((t * torch.from_numpy(u).to(device)).sum()
               for t, u in zip((t_out,) + tuple(t_fin), ups))
    loss.backward()

    names = ("h_n", "c_n") if lstm else ("h_n",)
    pairs = {"out": (out, host(t_out))}
    pairs.update({n: (a, host(t)) for n, a, t in zip(names, fin, t_fin)})
    pairs["dx"] = (dx, host(tx.grad))
    if ts:
        pairs.update({"d" + n[0] + "0": (a, host(t.grad)) for n, a, t in zip(names, d0, ts)})
    pairs.update({k: (m.grads[k], host(p.grad)) for k, p in tm.named_parameters()})
    return _errors(pairs, cfg.dtype)


def check_finite_differences(cfg: Config, seed=0, max_probes=6):
    """Float64 central differences for x, the initial states and every parameter: name -> (err, ok)."""
    cfg = dataclasses.replace(cfg, dtype="float64")
    rng = np.random.default_rng(seed)
    m = _scratch_module(cfg, seed)
    x, states = _inputs(cfg, rng)
    lstm = cfg.is_lstm
    inputs = {"x": np.ascontiguousarray(x), **m.state_dict()}
    if cfg.initial_state:
        inputs.update(zip(("h0", "c0") if lstm else ("h0",), states))

    def fn(x, h0=None, c0=None, **params):
        m.load_state_dict(params)
        m.zero_grad()
        hx = ((h0, c0) if lstm else h0) if cfg.initial_state else None
        out, fin = m(x, hx)
        fin = fin if lstm else (fin,)

        def vjp(ups):
            dx, d0 = m.backward(ups[0], tuple(ups[1:]) if lstm else ups[1])
            g = {"x": dx, **{k: v.copy() for k, v in m.grads.items()}}
            if cfg.initial_state:
                g.update(zip(("h0", "c0") if lstm else ("h0",), d0 if lstm else (d0,)))
            return g
        return (out,) + tuple(fin), vjp

    report = {}
    try:
        report = sr.gradcheck(fn, inputs, seed=seed, max_probes=max_probes, tol=FD_TOL)
    except GradcheckError as e:                      # keep every number for the table
        report = e.report
    return {k: (v, v <= FD_TOL) for k, v in report.items()}


def _scratch_module(cfg, seed):
    kw = dict(num_layers=cfg.num_layers, bias=cfg.bias, batch_first=cfg.batch_first,
              bidirectional=cfg.bidirectional, dtype=cfg.dtype, seed=seed)
    if cfg.is_lstm:
        return sr.LSTM(cfg.I, cfg.H, proj_size=cfg.proj_size, **kw)
    if cfg.model == "gru":
        return sr.GRU(cfg.I, cfg.H, **kw)
    return sr.RNN(cfg.I, cfg.H, nonlinearity=cfg.model.split("_")[1], **kw)


@dataclasses.dataclass
class Result:
    config: Config
    torch: dict                      # name -> (error, ok)
    fd: Optional[dict]               # name -> (error, ok), float64 only

    @property
    def ok(self):
        checks = list(self.torch.values()) + list((self.fd or {}).values())
        return all(ok for _, ok in checks)


def run(configs, fd=True, seed=0, device="cpu"):
    """Run every check (torch on ``device``, TF32 off there); a list of ``Result``."""
    results = []
    with _no_tf32(device):
        for cfg in configs:
            fd_res = check_finite_differences(cfg, seed) if fd and cfg.dtype == "float64" else None
            results.append(Result(cfg, check_torch(cfg, seed, device), fd_res))
    return results


@contextlib.contextmanager
def _no_tf32(device):
    """cuDNN and cuBLAS in full float32 while the block runs on a GPU (module docstring)."""
    if device == "cpu":
        yield
        return
    import torch
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def table(results):
    """A fixed-width text table: worst relative error per group of tensors, and pass/fail."""
    cols = ("out", "h_n", "c_n", "dx", "dh0", "dc0", "dW/db", "fd")
    lines = [f"{'configuration':<36}" + "".join(f"{c:>10}" for c in cols) + "  result"]
    for r in results:
        t = r.torch
        worst_w = max((e for k, (e, _) in t.items() if k.startswith(("weight", "bias"))), default=None)
        worst_fd = max((e for e, _ in r.fd.values()), default=None) if r.fd else None
        vals = [t.get(c, (None,))[0] for c in cols[:6]] + [worst_w, worst_fd]
        cells = "".join(f"{'—':>10}" if v is None else f"{v:>10.1e}" for v in vals)
        lines.append(f"{r.config.name:<36}{cells}  {'ok' if r.ok else 'FAIL'}")
    return "\n".join(lines)


def to_json(results):
    return [{"config": dataclasses.asdict(r.config), "ok": r.ok,
             "torch": {k: {"error": e, "ok": ok} for k, (e, ok) in r.torch.items()},
             "finite_differences": None if r.fd is None else
             {k: {"error": e, "ok": ok} for k, (e, ok) in r.fd.items()}}
            for r in results]
