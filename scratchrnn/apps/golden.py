"""The float64 golden suite: reference cases that any RNN, LSTM or GRU implementation can be held to.

``write(out_dir, seed)`` writes one ``.npz`` per case and a ``manifest.json``; ``load(dir)``
reads them back with NumPy alone (no pickle), and ``generate(seed)`` builds the same suite in
memory. Every case holds its inputs, initial states, every weight (torch's names and layout,
time-major), random upstream gradients on every output, and the reference outputs, final
states and every gradient, computed by scratchrnn in float64. Unidirectional full-length
sequences also carry the per-step quantities that ``scratchrnn check`` uses to find the step
where a backward goes wrong:

- ``step_h[t]`` (and ``step_c[t]``), shape (T, L, N, ·): the state after step t, t = 0..T-1;
- ``step_dh[t]`` (and ``step_dc[t]``): the gradient reaching that state from the steps after
  it (δ_t and γ_t of (L5)/(L7) in ``docs/derivations.md``): the ``grad_h0`` of the same network
  run on ``x[t:]`` from ``step_h[t]`` with the upstream gradients ``d_out[t:]``, ``d_h_n``,
  ``d_c_n``; ``step_dh[0]`` is ``grad_h0``.

The suite is reproducible bit for bit from its seed: arrays are drawn from
``numpy.random.default_rng([seed, case index])`` and the ``.npz`` files carry fixed timestamps.
"""

import hashlib
import json
import os
import platform
import zipfile
from typing import NamedTuple

import numpy as np

import scratchrnn as sr
from scratchrnn import registry

FORMAT = "scratchrnn-golden"
VERSION = 1
DEFAULT_SEED = 0
T, N, I, H, P, V = 5, 3, 4, 3, 2, 6         # sizes of every case; H=3 keeps W_hh of the RNN square

GATE_ORDER = {name: list(kind.gate_names) for name, kind in registry.KINDS.items()}
EQUATIONS = {"rnn": ["R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"],
             "lstm": ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "L9", "L10", "L11"],
             "gru": ["G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10"]}
LAYOUT = {
    "time_major": "sequences are (T, N, F): x (T, N, I), out (T, N, D*H_out); cells are (N, F)",
    "states": "h0, h_n (L*D, N, H_out), c0, c_n (L*D, N, H); index k*D + d for layer k, direction d",
    "weights": "weight_ih_l{k}{sfx} (G*H, I_k), weight_hh_l{k}{sfx} (G*H, H_out), bias_ih/bias_hh "
               "(G*H,), weight_hr_l{k}{sfx} (P, H) with proj_size; sfx '' or '_reverse'",
    "gate_order": {"rnn": "one block", "lstm": "i, f, g, o", "gru": "r, z, n (b_hn inside r * (.))"},
    "gradients": "grad_<name> is dL/d<name> for L = sum of <output> * d_<output> over every output",
    "absent": "no h0/c0 key: the initial states are zeros; no lengths key: every sequence has length T",
    "lengths": "lengths (N,) as torch's pack_padded_sequence: state frozen after each sequence's end, "
               "padded outputs 0, the reverse direction starts at each sequence's own end",
    "loss": "softmax cases: loss = sum over (t, n) with mask of -log softmax(logits[t, n])[targets[t, n]], "
            "divided by N (CS231n's temporal_softmax_loss)",
}


class Spec(NamedTuple):
    """What one case exercises; the sizes are the module constants."""
    model: str                # rnn_tanh, rnn_relu, lstm, lstm_proj, gru, softmax
    mode: str                 # sequence, cell, loss
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    with_hx: bool = True
    lengths: tuple = None     # per-sequence lengths, or None for all T
    zero_dc_n: bool = False   # LSTM: no gradient on c_n and c0 = 0 (the CS231n setting)
    scale: float = 1.0        # softmax: size of the logits

    @property
    def kind(self):
        return self.model.split("_")[0] if self.model != "softmax" else "softmax"

    @property
    def name(self):
        if self.mode == "loss":
            return f"softmax-scale{self.scale:g}"
        parts = [self.model, self.mode]
        if self.mode == "sequence":
            parts += [f"l{self.num_layers}", "bi" if self.bidirectional else "uni"]
        parts += ["" if self.bias else "nobias", "" if self.with_hx else "nohx",
                  "lengths" if self.lengths else "", "c0zero" if self.zero_dc_n else ""]
        return "-".join(p for p in parts if p)


def specs():
    """Every case of version 1 of the suite, in order."""
    out = []
    for model in ("rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"):
        out += [Spec(model, "sequence"),
                Spec(model, "sequence", with_hx=False),
                Spec(model, "sequence", bias=False),
                Spec(model, "sequence", num_layers=2),
                Spec(model, "sequence", bidirectional=True),
                Spec(model, "sequence", num_layers=2, bidirectional=True, lengths=(5, 2, 4))]
        if model != "lstm_proj":
            out += [Spec(model, "cell"), Spec(model, "cell", bias=False), Spec(model, "cell", with_hx=False)]
    out.append(Spec("lstm", "sequence", zero_dc_n=True))
    out += [Spec("softmax", "loss", scale=1.0), Spec("softmax", "loss", scale=1000.0)]
    return out


class Case(NamedTuple):
    name: str
    config: dict              # what a target needs to build the model (see scratchrnn.apps.check.protocol)
    meta: dict                # the manifest entry
    arrays: dict              # name -> np.ndarray: inputs, upstream grads, expected values, steps

    def inputs(self):
        return {k: self.arrays[k] for k in self.meta["inputs"] + self.meta["upstream"]}

    def expected(self):
        return {k: self.arrays[k] for k in self.meta["expected"]}


def generate(seed=DEFAULT_SEED):
    """The whole suite in memory: a list of ``Case``."""
    return [_make_case(spec, np.random.default_rng([seed, i])) for i, spec in enumerate(specs())]


def write(out_dir, seed=DEFAULT_SEED, cases=None):
    """Write every case as ``<name>.npz`` and the ``manifest.json`` into ``out_dir``; returns the manifest."""
    cases = generate(seed) if cases is None else cases
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    for case in cases:
        path = os.path.join(out_dir, case.meta["file"])
        _write_npz(path, case.arrays)
        with open(path, "rb") as f:
            entries.append(dict(case.meta, sha256=hashlib.sha256(f.read()).hexdigest()))
    manifest = {"format": FORMAT, "version": VERSION, "seed": seed, "dtype": "float64",
                "sizes": {"T": T, "N": N, "I": I, "H": H, "P": P, "V": V}, "layout": LAYOUT,
                "gate_order": GATE_ORDER, "equations_doc": "docs/derivations.md",
                "made_by": versions(), "cases": entries}
    tmp = os.path.join(out_dir, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(out_dir, "manifest.json"))
    return manifest


def load(suite_dir):
    """Read a written suite back (NumPy only, ``allow_pickle=False``); checks format, version, hashes."""
    path = os.path.join(suite_dir, "manifest.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"expected a golden suite with a manifest.json in {suite_dir!r}, found none "
                                "(write one with: scratchrnn golden --out DIR)")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"expected a {FORMAT} suite of version {VERSION}, got format "
                         f"{manifest.get('format')!r} version {manifest.get('version')!r}")
    cases = []
    for meta in manifest["cases"]:
        file = os.path.join(suite_dir, meta["file"])
        with open(file, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != meta["sha256"]:
                raise ValueError(f"{file} does not match the sha256 in its manifest: the suite was altered")
        with np.load(file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        cases.append(Case(meta["name"], meta["config"], meta, arrays))
    return cases


def versions():
    """The library versions that made a suite (they go in its manifest)."""
    import numba
    return {"scratchrnn": sr.__version__, "numpy": np.__version__, "numba": numba.__version__,
            "python": platform.python_version()}


# -- making one case -------------------------------------------------------

def _make_case(spec, rng):
    if spec.mode == "loss":
        arrays, config = _softmax_case(spec, rng), {"kind": "softmax", "mode": "loss"}
    else:
        config = _config(spec)
        arrays = _cell_case(spec, config, rng) if spec.mode == "cell" else _sequence_case(spec, config, rng)
    expected = [k for k in arrays if k in ("out", "h_n", "c_n", "loss") or k.startswith("grad_")]
    steps = [k for k in arrays if k.startswith("step_")]
    upstream = [k for k in arrays if k.startswith("d_")]
    inputs = [k for k in arrays if k not in expected + steps + upstream]
    equations = [] if spec.kind == "softmax" else list(EQUATIONS[spec.kind])
    if spec.model == "lstm_proj":
        equations += ["P1", "P2", "P3"]
    if spec.mode == "sequence":
        equations += ["S5"] + (["S1"] if spec.num_layers > 1 else []) \
            + (["S2", "S3"] if spec.bidirectional else []) + (["V1", "V2"] if spec.lengths else [])
    meta = {"name": spec.name, "file": spec.name + ".npz", "config": config, "equations": equations,
            "inputs": inputs, "upstream": upstream, "expected": expected, "steps": steps,
            "shapes": {k: list(a.shape) for k, a in arrays.items()},
            "dtypes": {k: str(a.dtype) for k, a in arrays.items()}}
    return Case(spec.name, config, meta, arrays)


def _config(spec):
    kind = spec.kind
    return {"kind": kind, "mode": spec.mode, "nonlinearity": spec.model[4:] if kind == "rnn" else None,
            "input_size": I, "hidden_size": H, "num_layers": spec.num_layers, "bias": spec.bias,
            "bidirectional": spec.bidirectional, "proj_size": P if spec.model == "lstm_proj" else 0,
            "batch_first": False}


def _build(config, seed, cell=False):
    """The scratchrnn model (or cell) for ``config``, float64."""
    kw = dict(bias=config["bias"], dtype=np.float64, seed=seed)
    if config["kind"] == "rnn":
        kw["nonlinearity"] = config["nonlinearity"]
    if cell:
        return registry.cell_class(config["kind"])(I, H, **kw)
    if config["kind"] == "lstm":
        kw["proj_size"] = config["proj_size"]
    cls = registry.model_class(config["kind"])
    return cls(I, H, num_layers=config["num_layers"], bidirectional=config["bidirectional"], **kw)


def _sequence_case(spec, config, rng):
    lstm = config["kind"] == "lstm"
    m = _build(config, int(rng.integers(2**31)))
    LD = spec.num_layers * (2 if spec.bidirectional else 1)
    Hout = config["proj_size"] or H
    a = {"x": rng.standard_normal((T, N, I))}                          # (T, N, I)
    if spec.with_hx:
        a["h0"] = rng.standard_normal((LD, N, Hout))                   # (L·D, N, H_out)
        if lstm:
            a["c0"] = np.zeros((LD, N, H)) if spec.zero_dc_n else rng.standard_normal((LD, N, H))
    if spec.lengths:
        a["lengths"] = np.array(spec.lengths, dtype=np.int64)          # (N,)
    a.update(m.state_dict())
    a["d_out"] = rng.standard_normal((T, N, Hout * LD // spec.num_layers))
    a["d_h_n"] = rng.standard_normal((LD, N, Hout))
    if lstm:
        a["d_c_n"] = np.zeros((LD, N, H)) if spec.zero_dc_n else rng.standard_normal((LD, N, H))
    res = run_reference(config, a)
    a.update(res)
    if not spec.bidirectional and not spec.lengths:
        a.update(_steps(config, a))
    return a


def _cell_case(spec, config, rng):
    lstm = config["kind"] == "lstm"
    m = _build(config, int(rng.integers(2**31)), cell=True)
    a = {"x": rng.standard_normal((N, I))}                             # (N, I)
    if spec.with_hx:
        a["h0"] = rng.standard_normal((N, H))
        if lstm:
            a["c0"] = rng.standard_normal((N, H))
    a.update(m.state_dict())
    a["d_h_n"] = rng.standard_normal((N, H))
    if lstm:
        a["d_c_n"] = rng.standard_normal((N, H))
    a.update(run_reference(config, a))
    return a


def run_reference(config, arrays):
    """scratchrnn's float64 outputs and gradients for ``config`` on ``arrays`` (the suite's keys).

    It is also a correct target of the check protocol: ``run_reference(config, arrays) -> dict``.
    """
    if config["mode"] == "loss":
        return softmax_loss(arrays["logits"], arrays["targets"], arrays["mask"])
    cell = config["mode"] == "cell"
    lstm = config["kind"] == "lstm"
    m = _build(config, 0, cell=cell)
    m.load_state_dict({k: arrays[k] for k, _ in m.named_parameters()})
    hx = arrays.get("h0")
    if hx is not None and lstm:
        hx = (hx, arrays["c0"])
    res = {}
    if cell:
        fin = m(arrays["x"], hx)
        res["h_n"], res["c_n"] = fin if lstm else (fin, None)
        dx, d0 = m.backward((arrays["d_h_n"], arrays["d_c_n"]) if lstm else arrays["d_h_n"])
    else:
        res["out"], fin = m(arrays["x"], hx, lengths=arrays.get("lengths"))
        res["h_n"], res["c_n"] = fin if lstm else (fin, None)
        dx, d0 = m.backward(arrays["d_out"], (arrays["d_h_n"], arrays["d_c_n"]) if lstm else arrays["d_h_n"])
    res["grad_x"] = dx
    if "h0" in arrays:
        res["grad_h0"], res["grad_c0"] = d0 if lstm else (d0, None)
    res.update({f"grad_{k}": g for k, g in m.grads.items()})
    return {k: v for k, v in res.items() if v is not None}


def _steps(config, a):
    """step_h/step_c: state after step t; step_dh/step_dc: grad_h0 of the run on x[t:] from there."""
    lstm = config["kind"] == "lstm"
    L, Hout = config["num_layers"], config["proj_size"] or H
    h0 = a.get("h0", np.zeros((L, N, Hout)))
    c0 = a.get("c0", np.zeros((L, N, H))) if lstm else None
    out = {k: [] for k in (("step_h", "step_c", "step_dh", "step_dc") if lstm else ("step_h", "step_dh"))}
    for t in range(T):
        if t == 0:
            h_t, c_t = h0, c0
        else:
            prefix = run_reference(config, suffix_arrays(a, 0, h0, c0, stop=t, zero_upstream=True))
            h_t, c_t = prefix["h_n"], prefix.get("c_n")
        g = run_reference(config, suffix_arrays(a, t, h_t, c_t))
        out["step_h"].append(h_t)
        out["step_dh"].append(g["grad_h0"])
        if lstm:
            out["step_c"].append(c_t)
            out["step_dc"].append(g["grad_c0"])
    return {k: np.stack(v) for k, v in out.items()}                    # each (T, L, N, ·)


def suffix_arrays(a, t, h_t, c_t, stop=None, zero_upstream=False):
    """The case's arrays for the run over steps t+1..stop (maths time) started from state (h_t, c_t)."""
    b = {k: v for k, v in a.items() if k.startswith(("weight_", "bias_"))}
    b["x"] = a["x"][t:stop]
    b["h0"] = h_t
    if c_t is not None:
        b["c0"] = c_t
    b["d_out"] = a["d_out"][t:stop] * (0.0 if zero_upstream else 1.0)
    for k in ("d_h_n", "d_c_n"):
        if k in a:
            b[k] = a[k] * (0.0 if zero_upstream else 1.0)
    return b


def _softmax_case(spec, rng):
    logits = rng.standard_normal((T, N, V)) * spec.scale               # (T, N, V)
    targets = rng.integers(0, V, size=(T, N)).astype(np.int64)         # (T, N)
    mask = rng.random((T, N)) < 0.8                                    # (T, N) bool
    mask[0] = True
    return dict(logits=logits, targets=targets, mask=mask, **softmax_loss(logits, targets, mask))


def softmax_loss(logits, targets, mask):
    """CS231n's temporal softmax loss in torch's layout, float64: ``{"loss", "grad_logits"}``.

    logits (T, N, V), targets (T, N), mask (T, N): ``loss = Σ_{t,n} mask·(-log softmax)[target] / N``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=2, keepdims=True)               # (T, N, V) max is 0
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    t = targets[..., None]                                             # (T, N, 1)
    N = logits.shape[1]
    loss = np.array((-np.take_along_axis(log_p, t, 2)[..., 0] * mask).sum() / N)   # ()
    grad = np.exp(log_p)                                               # (T, N, V) softmax
    np.put_along_axis(grad, t, np.take_along_axis(grad, t, 2) - 1, 2)
    return {"loss": loss, "grad_logits": grad * mask[..., None] / N}


def _write_npz(path, arrays):
    """An ``.npz`` that NumPy reads as ever, with fixed member timestamps (same seed, same bytes)."""
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(arrays[key], order="C"), allow_pickle=False)
    os.replace(tmp, path)
