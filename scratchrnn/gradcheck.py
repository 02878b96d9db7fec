"""Finite differences in float64: the second oracle after torch.

The analytic gradient of any forward/backward pair is compared with central
differences of the scalar ``L = Σ_j <u_j, out_j>``, where the ``u_j`` are random
upstream gradients, one for every output (random, so that a wrong gate or a
swapped state cannot cancel out, as it can with all-ones).

    >>> import numpy as np, scratchrnn as sr
    >>> from scratchrnn import functional as F
    >>> rng = np.random.default_rng(0)
    >>> inputs = dict(x=rng.standard_normal((4, 2, 3)), h0=rng.standard_normal((2, 5)),
    ...               w_ih=rng.standard_normal((5, 3)), w_hh=rng.standard_normal((5, 5)))
    >>> def fn(x, h0, w_ih, w_hh):
    ...     out, h_n, cache = F.rnn_forward(x, h0, w_ih, w_hh)
    ...     def vjp(d):
    ...         g = F.rnn_backward(d[0], d[1], cache)
    ...         return dict(x=g.dx, h0=g.dh0, w_ih=g.dw_ih, w_hh=g.dw_hh)
    ...     return (out, h_n), vjp
    >>> report = sr.gradcheck(fn, inputs)
    >>> max(report.values()) < 1e-6
    True
"""

import math
import numbers

import numpy as np


MIN_EPS = 1e-10      # the smallest step accepted: its rounding noise, 2⁻⁵³·|L|/eps ≈ 1e-6·|L|


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences beyond the tolerance.

    ``report`` holds every tensor's relative error, the failing ones included.
    """

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


def gradcheck(fn, inputs, *, eps=1e-6, tol=1e-6, floor=1e-10, seed=0, max_probes=None):
    """Check the gradients that ``fn`` computes against central differences; raise on failure.

    fn:      ``fn(**inputs) -> (outputs, vjp)``; ``outputs`` is an array or a tuple of arrays,
             ``vjp(upstream)`` takes one upstream array per output (same order) and returns a
             dict ``name -> gradient`` for the inputs to check (a subset of ``inputs``).
    inputs:  dict ``name -> float64 array``; they are perturbed in place and restored.
    eps:     step of the central difference. Its error is O(eps²·|L'''|) from truncation plus
             O(2⁻⁵³·|L| / eps) from rounding: about 1e-10 relative at eps = 1e-6.
    tol:     largest allowed per-tensor relative error ``‖num − ana‖ / max(‖num‖, ‖ana‖, floor)``;
             1e-6 leaves four orders of magnitude over the expected 1e-10 while a wrong
             derivative (a missing term, a swapped gate) is off by O(1).
    floor:   keeps the relative error meaningful for gradients that are (nearly) zero.
    max_probes: check at most this many randomly chosen elements per tensor (None = all, else >= 1).

    The denominator is also never below ``noise / tol``, where ``noise = 4·2⁻⁵³·S/eps·√n``
    is the rounding error that n central differences carry when the loss terms sum to
    ``S = Σ_j Σ |u_j ⊙ out_j|``. So a tensor whose gradient is far smaller than the loss
    (a deep layer's W_hh, say) is checked down to what finite differences can resolve,
    and no further. Any gradient well above that level is held to ``tol``.

    Settings that would check nothing are refused (ValueError): ``max_probes`` below 1,
    ``eps`` outside [1e-10, 1], ``tol`` outside [0, 1), ``floor`` outside (0, 1], no inputs,
    an empty input, a ``vjp`` that returns no gradient; so are gradients that are not finite
    or name no input, and outputs that are not float arrays.

    Returns a dict ``name -> relative error``.
    """
    _settings(eps, tol, floor, max_probes)
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not isinstance(inputs, dict) or not inputs:
        raise ValueError(f"expected inputs as a non-empty dict name -> float64 array, got "
                         f"{inputs!r:.80}")
    for name, a in inputs.items():
        if not isinstance(a, np.ndarray) or a.dtype != np.float64:
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"gradcheck needs float64 arrays; input {name!r} is {got}")
        if a.size == 0:
            raise ValueError(f"input {name!r} is empty (shape {a.shape}): there is nothing to check")
        if not np.isfinite(a).all():
            raise ValueError(f"input {name!r} contains NaN or inf: finite differences need finite inputs")
    rng = np.random.default_rng(seed)

    outputs, vjp = _call(fn, inputs)
    outputs = _as_tuple(outputs)
    for j, o in enumerate(outputs):
        if not isinstance(o, np.ndarray) or not np.issubdtype(o.dtype, np.floating):
            raise TypeError(f"expected output {j} of fn as a float ndarray, got "
                            f"{getattr(o, 'dtype', type(o).__name__)}")
    upstream = tuple(rng.standard_normal(o.shape) for o in outputs)   # random u_j per output
    grads = vjp(upstream)
    if not isinstance(grads, dict) or not grads:
        raise ValueError(f"vjp must return a non-empty dict name -> gradient, got {grads!r:.80}")
    unknown = sorted(set(grads) - set(inputs), key=str)
    if unknown:
        raise ValueError(f"vjp returned gradients for {unknown}, which are not inputs "
                         f"(inputs: {sorted(inputs)})")
    analytic = {k: np.array(v, dtype=np.float64) for k, v in grads.items()}
    for k, v in analytic.items():
        if not np.isfinite(v).all():
            raise ValueError(f"the analytic gradient of {k!r} contains NaN or inf")

    def loss():
        outs = _as_tuple(fn(**inputs)[0])
        return sum(float(np.sum(u * o)) for u, o in zip(upstream, outs))   # L = Σ_j <u_j, out_j>

    scale = sum(float(np.sum(np.abs(u * o))) for u, o in zip(upstream, outputs))   # S

    report, failures = {}, []
    for name, ana in analytic.items():
        x = inputs[name]
        if ana.shape != x.shape:
            raise ValueError(f"gradient of {name!r} has shape {ana.shape}, input has {x.shape}")
        flat = x.reshape(-1)                          # a view: perturbing it perturbs the input
        if not np.shares_memory(flat, x):
            raise ValueError(f"gradcheck perturbs inputs in place; input {name!r} must be contiguous")
        idx = np.arange(flat.size)
        if max_probes is not None and flat.size > max_probes:
            idx = rng.choice(flat.size, size=max_probes, replace=False)
        num = np.empty(idx.size)
        for j, i in enumerate(idx):
            old = flat[i]
            flat[i] = old + eps
            plus = loss()
            flat[i] = old - eps
            minus = loss()
            flat[i] = old
            num[j] = (plus - minus) / (2 * eps)       # central difference
        a = ana.reshape(-1)[idx]
        noise = 4 * np.finfo(np.float64).eps / 2 * scale / eps * np.sqrt(idx.size)
        err = np.linalg.norm(num - a) / max(np.linalg.norm(num), np.linalg.norm(a), floor,
                                            noise / tol if tol > 0 and np.isfinite(tol) else 0.0)
        report[name] = float(err)
        if not err <= tol:
            failures.append(f"{name}: relative error {err:.3e}, expected <= tol = {tol:.1e}")
    if failures:
        raise GradcheckError("gradcheck failed: " + "; ".join(failures), report)
    return report


def _settings(eps, tol, floor, max_probes):
    def real(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)

    if not (real(eps) and MIN_EPS <= eps <= 1):
        raise ValueError(f"eps must be a number in [{MIN_EPS:g}, 1] (below, rounding noise of order "
                         f"2⁻⁵³/eps drowns any gradient), got {eps!r}")
    if not (real(tol) and 0 <= tol < 1):
        raise ValueError(f"tol must be a number in [0, 1) (a relative error never exceeds 2, so a "
                         f"tolerance of 1 or more lets wrong gradients through), got {tol!r}")
    if not (real(floor) and 0 < floor <= 1):
        raise ValueError(f"floor must be a number in (0, 1] (a larger floor hides the error of any "
                         f"gradient smaller than it), got {floor!r}")
    if max_probes is not None and (isinstance(max_probes, bool) or not isinstance(max_probes, numbers.Integral)
                                   or max_probes < 1):
        raise ValueError(f"max_probes must be None (every element) or an integer >= 1, got {max_probes!r}")


def _call(fn, inputs):
    res = fn(**inputs)
    if not (isinstance(res, tuple) and len(res) == 2 and callable(res[1])):
        raise TypeError(f"fn must return (outputs, vjp) with vjp callable, got {type(res).__name__}")
    return res


def _as_tuple(outputs):
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
