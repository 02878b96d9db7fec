"""Run a target over the golden suite: compare every tensor, and find where a failure starts.

For each case the target gets the case's inputs (cast to the checked dtype) and returns its
outputs and gradients; each is compared with the float64 reference. In float32 mode the
reference is recomputed in float64 from the float32-rounded inputs, so the comparison measures
the target's arithmetic, not the rounding of its inputs.

A failing sequence case is then localised in time. Where the suite carries per-step gradients
(unidirectional, full-length cases), the target is run on ``x[t:]`` from the reference state
after step t, for t = T-1, T-2, ...: that run's ``grad_h0`` (``grad_c0``) is the gradient
``dh_t`` (``dc_t``) reaching step t from the steps after it. The first step, going backwards,
whose backward yields a wrong ``dh_t``/``dc_t`` is reported. A target that cannot start from a
given cell state (CS231n's ``lstm_forward``) is localised by ``dx_t`` instead, which is right
exactly until the first wrong step.
"""

import traceback
from typing import NamedTuple

import numpy as np

from scratchrnn.apps import golden
from scratchrnn.apps.check.diagnose import Finding, diagnose, hints, rel_error, tolerance
from scratchrnn.registry import KINDS


class Step(NamedTuple):
    step: int                # 1-based time step whose backward first produced a wrong gradient
    quantity: str            # what diverged there first: "dh", "dc", "dh, dc" or "dx"
    layers: tuple            # layers whose dh/dc were wrong at that step (dx: ())
    steps: int               # T
    detail: str

    def to_json(self):
        return dict(self._asdict(), layers=list(self.layers))


class CaseResult(NamedTuple):
    name: str
    kind: str                # rnn, lstm, gru, softmax
    status: str              # pass, fail, skip, error
    via: str                 # which of the target's functions ran the case
    reason: str              # skip / error reason
    errors: dict             # tensor -> normwise relative error
    findings: list           # [Finding] for the failing tensors
    skipped_tensors: dict    # tensor -> why it could not be compared
    step: object             # Step, or None
    equations: list
    hints: tuple = ()        # patterns across the wrong tensors, in words

    @property
    def gates(self):
        """Every gate block named by a failing weight or bias gradient."""
        return tuple(dict.fromkeys(g for f in self.findings for g in f.gates))

    def finding(self, tensor):
        return next((f for f in self.findings if f.tensor == tensor), None)

    def to_json(self):
        d = self._asdict()
        d["findings"] = [f.to_json() for f in self.findings]
        d["step"] = self.step.to_json() if self.step else None
        d["gates"] = list(self.gates)
        return d


def run(target, cases, dtype=np.float64, progress=None):
    """[CaseResult] for every case the target applies to."""
    dtype = np.dtype(dtype)
    out = []
    for case in cases:
        if not target.applies(case.config):
            continue
        out.append(check_case(target, case, dtype))
        if progress:
            progress(out[-1])
    return out


def check_case(target, case, dtype):
    tol = tolerance(dtype)
    via = target.via(case.config)
    arrays = cast(case.inputs(), dtype)
    try:
        with np.errstate(all="ignore"):         # overflows show up as non-finite results instead
            got = target(dict(case.config), dict(arrays))
    except NotImplementedError as e:
        return CaseResult(case.name, case.config["kind"], "skip", via, str(e) or "not implemented", {}, [], {},
                          None, case.meta["equations"])
    except Exception as e:
        return CaseResult(case.name, case.config["kind"], "error", via, _crash(e), {}, [], {}, None,
                          case.meta["equations"])
    if not isinstance(got, dict):
        return CaseResult(case.name, case.config["kind"], "error", via, f"expected the target to return a dict, got "
                          f"{type(got).__name__}", {}, [], {}, None, case.meta["equations"])
    skipped = dict(got.pop("__skipped__", {}))
    expected = reference(case, arrays, dtype)
    errors, findings = {}, []
    kind = case.config["kind"]
    gate_names = KINDS[kind].gate_names if kind in KINDS else ()
    for key, exp in expected.items():
        if key in skipped:
            continue
        err = rel_error(got.get(key), exp)
        errors[key] = err
        if not err <= tol:
            findings.append(diagnose(key, got.get(key), exp, tol, gate_names, case.config.get("hidden_size")))
    step = localise(target, case, dtype, got, expected) if findings else None
    return CaseResult(case.name, case.config["kind"], "fail" if findings else "pass", via, "", errors,
                      findings, skipped, step, case.meta["equations"], tuple(hints(findings, errors, tol)))


def reference(case, arrays, dtype):
    """The expected values: the stored float64 ones, or recomputed from float32-rounded inputs."""
    if dtype == np.float64:
        return case.expected()
    if case.config["mode"] == "loss":
        return golden.softmax_loss(arrays["logits"], arrays["targets"], arrays["mask"])
    exact = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    res = golden.run_reference(case.config, exact)
    return {k: res[k] for k in case.meta["expected"]}


def localise(target, case, dtype, got, expected):
    """The first step, going backwards, where the target's gradients go wrong (or None)."""
    if case.config["mode"] != "sequence":
        return None
    tol = tolerance(dtype)
    if "step_dh" in case.arrays:
        try:
            return _by_suffixes(target, case, dtype, tol)
        except NotImplementedError:
            pass                                   # cannot start from a given state: use dx
        except Exception:                          # the target crashes on shorter sequences
            return None
    if case.config["bidirectional"]:
        return None                                # dx_t sums both directions: no single order
    dx, ex = got.get("grad_x"), expected["grad_x"]
    if dx is None or np.shape(dx) != ex.shape:
        return None
    scale = float(np.max(np.abs(ex))) or 1.0
    for t in reversed(range(ex.shape[0])):
        if not float(np.max(np.abs(np.asarray(dx[t], np.float64) - ex[t]))) / scale <= tol:
            later = ", every later dx_t is right" if t + 1 < ex.shape[0] else ""
            return Step(t + 1, "dx", (), ex.shape[0], f"dx_{t + 1} is wrong{later} (located by dx_t: the target "
                        "cannot be run from a given state, e.g. CS231n's lstm_forward starts from c0 = 0)")
    return None


def _by_suffixes(target, case, dtype, tol):
    a = case.arrays
    T = a["x"].shape[0]
    lstm = "step_dc" in a
    for t in reversed(range(T)):
        sub = cast(golden.suffix_arrays(a, t, a["step_h"][t], a["step_c"][t] if lstm else None), dtype)
        with np.errstate(all="ignore"):
            got = target(dict(case.config), dict(sub))
        if dtype == np.float64:
            exp = {"grad_h0": a["step_dh"][t], "grad_c0": a["step_dc"][t] if lstm else None}
        else:
            exact = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in sub.items()}
            exp = golden.run_reference(case.config, exact)
        wrong, layers = [], set()
        for q, key in (("dh", "grad_h0"), ("dc", "grad_c0")):
            if exp.get(key) is None:
                continue
            g = got.get(key)
            if not rel_error(g, exp[key]) <= tol:
                wrong.append(q)
                if g is not None and np.shape(g) == exp[key].shape:
                    scale = float(np.max(np.abs(exp[key]))) or 1.0
                    layers |= {k for k in range(exp[key].shape[0])
                               if float(np.max(np.abs(np.asarray(g[k]) - exp[key][k]))) / scale > tol}
        if wrong:
            names = " and ".join(f"{q}_{t}" for q in wrong)
            return Step(t + 1, ", ".join(wrong), tuple(sorted(layers)), T,
                        f"{names} wrong after {T - t} step{'s' * (T - t > 1)} back: the backward of "
                        f"step {t + 1} is the first, going backwards, to go wrong")
    return None


def cast(arrays, dtype):
    """Float arrays to ``dtype`` (C-contiguous copies); integer and bool arrays unchanged."""
    return {k: (np.array(v, dtype=dtype) if v.dtype.kind == "f" else v.copy()) for k, v in arrays.items()}


def _crash(e):
    frame = traceback.extract_tb(e.__traceback__)[-1]
    return f"{type(e).__name__}: {e} (at {frame.filename}:{frame.lineno})"


__all__ = ["run", "check_case", "CaseResult", "Step", "Finding"]
