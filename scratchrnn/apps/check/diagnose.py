"""Where a wrong tensor is wrong, and how: gate blocks, error kind, direction.

An error is measured normwise, ``max|got - expected| / max|expected|``, so that a tensor
with a few near-zero entries is not judged by them. A failing tensor gets a ``Finding``:

- ``kind``: ``sign`` (got ≈ -expected), ``scale`` (got ≈ s·expected, s ≠ 1), ``zero`` (never
  written), ``transposed`` (got ≈ expectedᵀ), ``swapped`` (its gate blocks are permuted),
  ``non-finite`` (NaN or inf, e.g. an overflowing exp), ``shape``, ``missing``, or ``other``;
- ``gates``: the gate blocks (row blocks of ``W_ih``/``W_hh``/``b``, torch's order) whose error
  exceeds the tolerance. When only some blocks are wrong, ``kind`` and ``detail`` describe those
  blocks alone (the rest is right).
"""

import re
from itertools import permutations
from typing import NamedTuple

import numpy as np


class Finding(NamedTuple):
    tensor: str
    error: float             # normwise relative error (inf when missing, non-finite or misshapen)
    kind: str
    detail: str              # a short human sentence: "×0.5", "blocks g and o swapped", ...
    gates: tuple             # wrong gate blocks by name, () when the tensor has no gate blocks
    direction: str           # "forward", "reverse" or "" (the direction a parameter belongs to)

    def to_json(self):
        return dict(self._asdict(), gates=list(self.gates))


def tolerance(dtype):
    """The pass threshold on the normwise relative error for an implementation working in ``dtype``.

    ``eps ** (2/3)``: 3.7e-11 in float64, 2.4e-5 in float32. On these small cases (T = 5, dot
    products of at most 12 terms) correct implementations stay within a few eps of the float64
    truth: torch's nn.RNN/LSTM/GRU and the test suite's NumPy implementations err by at most
    9.5e-7 (8 eps) in float32 and 1e-15 in float64. The threshold leaves eps ** (-1/3) over eps
    (200× in float32, 1.7e5× in float64), and every bug of the test gallery errs by more than 1e-3.
    """
    return float(np.finfo(dtype).eps) ** (2.0 / 3.0)


def rel_error(got, expected):
    """Normwise relative error; inf when the shapes differ or ``got`` is not finite."""
    if got is None or np.shape(got) != np.shape(expected):
        return float("inf")
    got = np.asarray(got, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        return float("inf")
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    diff = float(np.max(np.abs(got - expected))) if np.size(expected) else 0.0
    return diff / scale if scale > 0 else diff


def diagnose(name, got, expected, tol, gate_names=(), hidden=None):
    """The ``Finding`` for one tensor that failed (``got`` may be None: not returned)."""
    direction = "reverse" if name.endswith("_reverse") else ("forward" if re.search(r"_l\d+$", name) else "")
    err = rel_error(got, expected)
    if got is None:
        return Finding(name, err, "missing", "not returned", (), direction)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        if got.T.shape == expected.shape and rel_error(got.T, expected) <= tol:
            return Finding(name, err, "transposed", f"shape {got.shape}: the transpose of the "
                           f"expected {expected.shape}", (), direction)
        return Finding(name, err, "shape", f"expected shape {expected.shape}, got {got.shape}", (), direction)
    if not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        return Finding(name, err, "non-finite", f"{bad} of {got.size} values are NaN or inf", (), direction)
    blocks = _blocks(got, expected, gate_names, hidden)
    wrong = ()
    if blocks is not None:
        scale = float(np.max(np.abs(expected))) or 1.0
        errs = [float(np.max(np.abs(g - e))) / scale for g, e in blocks]
        wrong = tuple(n for n, e in zip(gate_names, errs) if e > tol)
        swap = _swapped(blocks, gate_names, tol, scale)
        if swap:
            return Finding(name, err, "swapped", swap, wrong, direction)
        if 0 < len(wrong) < len(gate_names):       # judge the wrong blocks alone
            idx = [gate_names.index(n) for n in wrong]
            g = np.concatenate([blocks[i][0] for i in idx])
            e = np.concatenate([blocks[i][1] for i in idx])
            kind, detail = classify(g, e, tol)
            return Finding(name, err, kind, detail, wrong, direction)
    kind, detail = classify(got, expected, tol)
    return Finding(name, err, kind, detail, wrong, direction)


def classify(got, expected, tol):
    """(kind, detail) of an equal-shaped wrong array: zero, sign, scale, transposed or other."""
    if not np.any(got):
        return "zero", "all zeros (never written?)"
    if rel_error(-got, expected) <= tol:
        return "sign", "sign flipped (got ≈ -expected)"
    ee = float(np.sum(expected * expected))
    if ee > 0:
        s = float(np.sum(got * expected)) / ee
        if s != 0 and rel_error(got / s, expected) <= tol:
            return "scale", f"scaled by a constant ×{s:.6g}"
    if got.ndim == 2 and got.shape[0] == got.shape[1] and rel_error(got.T, expected) <= tol:
        return "transposed", "equals the transpose of the expected matrix"
    return "other", "wrong values with no simple pattern"


def _blocks(got, expected, gate_names, hidden):
    """[(got block, expected block)] of the G row blocks, or None when the tensor has no gates."""
    G = len(gate_names)
    if G < 2 or hidden is None or expected.ndim == 0 or expected.shape[0] != G * hidden:
        return None
    return [(got[j * hidden:(j + 1) * hidden], expected[j * hidden:(j + 1) * hidden]) for j in range(G)]


def _swapped(blocks, gate_names, tol, scale):
    """'blocks g and o swapped' when some non-identity permutation of blocks matches, else ''."""
    G = len(blocks)

    def close(a, b):
        return float(np.max(np.abs(a - b))) / scale <= tol

    if all(close(g, e) for g, e in blocks):
        return ""
    for perm in permutations(range(G)):           # G ≤ 4: at most 24 tries
        if perm != tuple(range(G)) and all(close(blocks[j][0], blocks[perm[j]][1]) for j in range(G)):
            moved = [gate_names[j] for j in range(G) if perm[j] != j]
            if len(moved) == 2:
                return f"blocks {moved[0]} and {moved[1]} swapped"
            return "blocks permuted: " + ", ".join(f"{gate_names[j]} holds {gate_names[perm[j]]}"
                                                   for j in range(G) if perm[j] != j)
    return ""


def hints(findings, errors, tol):
    """Sentences that read a pattern across a case's wrong tensors (which paths are right)."""
    wrong = {f.tensor for f in findings}
    if not wrong:
        return []
    out = []
    params = {t for t in wrong if t.startswith(("grad_weight", "grad_bias"))}
    if wrong & {"out", "h_n", "c_n", "loss"}:
        out.append("the forward is wrong: fix it first, the gradients follow from it")
    elif wrong == params and all(errors.get(k, 0) <= tol for k in ("grad_x", "grad_h0", "grad_c0")):
        if all(f.kind in ("zero", "missing") for f in findings):
            out.append("dx and dh0 are right, so every da_t is; the gradient of "
                       f"{', '.join(sorted(params))} is never written")
        elif all(t.startswith("grad_weight_hh") for t in params):
            out.append("dx and dh0 are right, so every da_t is; only dW_hh is wrong: it pairs da_t with "
                       "the wrong state ((R7): h_{t-1}, h[:-1], not h_t)")
        else:
            out.append("dx and dh0 are right, so every da_t is; the parameter gradients are not: "
                       "they must be sums over all steps (+=), fact 3 of docs/derivations.md")
    fwd = [f for f in findings if f.direction == "forward"]
    rev = [f for f in findings if f.direction == "reverse"]
    if rev and not fwd:
        out.append("only the reverse direction's parameters are wrong: check the time flips of "
                   "d_out and dx around its backward (S2)")
    return out
