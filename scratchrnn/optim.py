"""Gradient clipping and optimizers over modules, matching torch.nn.utils / torch.optim.

They work on anything with ``named_parameters()`` (live arrays, updated in place)
and a ``grads`` dict with the same names: every scratchrnn module.

A parameter listed twice (the same module passed twice) is treated as torch 2.x treats it:
the optimizers warn "optimizer contains a parameter group with duplicate parameters" and,
like torch's per-parameter loop on CPU, update it once per listing with one shared state
(so the step is taken twice); ``clip_grad_norm`` counts its gradient twice in the norm and
scales it twice, as ``clip_grad_norm_`` does, and warns too (torch says nothing there).
"""

import math
import numbers
import warnings

import numpy as np

from scratchrnn.kernels import updates

DUPLICATE_WARNING = ("optimizer contains a parameter group with duplicate parameters; torch does "
                     "the same and will make it an error: each listing takes its own step")


def _pairs(modules, what):
    """[(param, grad)] over a module or a list of modules, warning when a parameter repeats."""
    if hasattr(modules, "named_parameters"):
        modules = [modules]
    if not isinstance(modules, (list, tuple)):
        raise TypeError(f"expected a scratchrnn module or a list of them, got {type(modules).__name__}")
    pairs = []
    for m in modules:
        if not (hasattr(m, "named_parameters") and isinstance(getattr(m, "grads", None), dict)):
            raise TypeError(f"expected scratchrnn modules, got {type(m).__name__}")
        for name, p in m.named_parameters():
            g = m.grads.get(name)
            if not (isinstance(p, np.ndarray) and isinstance(g, np.ndarray) and g.shape == p.shape
                    and g.dtype == p.dtype):
                raise TypeError(f"expected parameter {name!r} and its gradient as ndarrays of one shape "
                                f"and dtype, got {type(p).__name__} and {type(g).__name__}")
            pairs.append((p, g))
    if not pairs:
        raise ValueError("expected at least one parameter, got none")
    if len({id(p) for p, _ in pairs}) != len(pairs):
        warnings.warn(what if what else DUPLICATE_WARNING, UserWarning, stacklevel=3)
    return pairs


def _state_index(pairs):
    """For each pair, the index of its parameter's first listing: duplicates share one state."""
    first = {}
    return [first.setdefault(id(p), k) for k, (p, _) in enumerate(pairs)]


def _number(name, value, low=0.0, allow_inf=False):
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real) and value >= low
          and (np.isfinite(value) or (allow_inf and value == np.inf)))
    if not ok:
        raise ValueError(f"{name} must be a {'' if allow_inf else 'finite '}number >= {low}, "
                         f"got {value!r}")
    return float(value)


def _representable(pairs, positive=(), **values):
    """Each value as the parameters' dtypes hold it: a number that overflows one (3.5e38 for
    float32 weights) would make every step NaN; torch refuses it too ("value cannot be
    converted to type float without overflow"). The values named in ``positive`` must also
    stay above 0 there (Adam's eps: 1e-50 is 0 in float32)."""
    for dtype in sorted({p.dtype for p, _ in pairs}, key=str):
        with np.errstate(over="ignore", under="ignore"):
            for name, value in values.items():
                held = dtype.type(value)
                if not np.isfinite(held):
                    raise ValueError(f"{name} must be representable in {dtype}, the parameters' "
                                     f"dtype (at most {np.finfo(dtype).max:g}), got {value!r}")
                if name in positive and held == 0:
                    raise ValueError(f"{name} must be > 0 in {dtype}, the parameters' dtype (at "
                                     f"least {np.finfo(dtype).smallest_subnormal:g}), got {value!r}, "
                                     f"which {dtype} rounds to 0")


def clip_grad_norm(modules, max_norm):
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping, like ``torch.nn.utils.clip_grad_norm_``
    (which scales by ``max_norm / (norm + 1e-6)`` when that factor is below 1);
    ``max_norm=inf`` only measures.
    """
    max_norm = _number("max_norm", max_norm, allow_inf=True)
    grads = [g for _, g in _pairs(modules, "clip_grad_norm got the same parameter twice: like torch's "
                                            "clip_grad_norm_, it counts its gradient twice in the "
                                            "norm and scales it twice")]
    # Σ g² in float64, cast as it goes (no float64 copy of each gradient to allocate)
    total = math.sqrt(sum(updates.sum_of_squares(_flat(g)) for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value(modules, clip_value):
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    clip_value = _number("clip_value", clip_value)
    for _, g in _pairs(modules, "clip_grad_value got the same parameter twice (clamping it twice "
                               "changes nothing)"):
        np.clip(g, -clip_value, clip_value, out=g)


def _flat(a):
    """``a`` as a 1-D C-contiguous array: a view where ``a`` is C-contiguous, else a copy."""
    return np.ascontiguousarray(a).reshape(-1)


class SGD:
    """``torch.optim.SGD`` (dampening 0, no Nesterov): with momentum μ and weight decay λ,
    ``g ← g + λp``;  ``b ← g`` on the first step, else ``b ← μb + g``;  ``p ← p − lr·b``.
    lr, μ and λ must be numbers the parameters' dtype holds (``_representable``).

    Each parameter's step is one compiled pass (``kernels.updates.sgd``), the same float
    operations in the same order as these expressions in NumPy, to the bit. The momentum
    buffers (``buffers``, one array per parameter, None until its first step) are updated in
    place, as torch's are; one put there from outside must be a writeable ndarray of its
    parameter's shape and dtype, or ``step`` refuses it before any parameter moves.
    """

    def __init__(self, modules, lr, momentum=0.0, weight_decay=0.0):
        self.pairs = _pairs(modules, None)
        self.lr = _number("lr", lr)
        self.momentum = _number("momentum", momentum)
        self.weight_decay = _number("weight_decay", weight_decay)
        _representable(self.pairs, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        self.buffers = [None] * len(self.pairs)
        self._state = _state_index(self.pairs)           # a repeated parameter shares its buffer

    def step(self):
        buffers = self.buffers if self.momentum else []   # checked first: a refused step changes nothing
        for k, b in enumerate(buffers):
            p = self.pairs[k][0]
            if b is not None and not (isinstance(b, np.ndarray) and b.shape == p.shape and b.dtype == p.dtype
                                      and b.flags.writeable):   # set from outside
                got = (f"shape {b.shape}, dtype {b.dtype}{'' if b.flags.writeable else ', read-only'}"
                       if isinstance(b, np.ndarray) else type(b).__name__)
                raise ValueError(f"expected momentum buffer {k} as a writeable ndarray of shape {p.shape} and "
                                 f"dtype {p.dtype}, as its parameter, got {got}")
        started = set()
        for (p, g), k in zip(self.pairs, self._state):
            dt = p.dtype.type                        # the scalars as NumPy rounds them for p's dtype
            b, restart = np.empty(0, p.dtype), False  # no buffer without momentum
            if self.momentum:
                b = self.buffers[k]
                restart = b is None or k in started  # torch: each listing's first step starts afresh
                if restart:
                    started.add(k)
                if b is None:
                    b = self.buffers[k] = np.empty(p.shape, p.dtype)   # C order: a flat view for the update
            flat_p, flat_g, flat_b = (_flat(a) for a in (p, g, b))
            updates.sgd(flat_p, flat_g, flat_b, dt(self.lr), dt(self.momentum), dt(self.weight_decay),
                        self.weight_decay != 0, restart)   # one pass over each
            for a, flat in ((p, flat_p), (b, flat_b)):
                if not a.flags.c_contiguous:         # flat is a copy (a module's own never is): write it back
                    a[...] = flat.reshape(a.shape)

    def zero_grad(self):
        for _, g in self.pairs:
            g.fill(0)


class Adam:
    """``torch.optim.Adam`` (no amsgrad): at step t, with g ← g + λp when weight decay λ > 0,
    ``m ← m + (1−β₁)(g − m)``, ``v ← β₂v + (1−β₂)g²``,
    ``p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)``.

    Each parameter's step is one compiled pass (``kernels.updates.adam``), the same float
    operations in the same order as these expressions in NumPy, to the bit. ε, λ and the first
    step size lr/(1−β₁) must be numbers the parameters' dtype holds, ε above 0 there
    (``_representable``; torch allows ε = 0, which makes a zero gradient's step 0/0 = NaN).
    """

    def __init__(self, modules, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.pairs = _pairs(modules, None)
        self.lr = _number("lr", lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2
                and all(isinstance(b, numbers.Real) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _number("eps", eps)
        if self.eps == 0:                # torch allows it; a zero gradient then makes 0/0 = NaN weights
            raise ValueError("eps must be > 0: with eps = 0 a zero gradient gives 0/0 = NaN, got 0")
        self.weight_decay = _number("weight_decay", weight_decay)
        # lr / (1 − β₁ᵗ), the step size, is largest at the first step
        _representable(self.pairs, ("eps",), eps=self.eps, weight_decay=self.weight_decay,
                       **{"lr / (1 - betas[0])": self.lr / (1 - self.betas[0])})
        self.t = 0                                   # step() calls so far
        self._state = _state_index(self.pairs)       # a repeated parameter shares m, v and its count
        self._repeats = [self._state.count(k) for k in range(len(self.pairs))]
        self.m, self.v = [], []
        for k, (p, _) in zip(self._state, self.pairs):     # C order: flat views for the update
            self.m.append(np.zeros(p.shape, p.dtype) if k == len(self.m) else self.m[k])
            self.v.append(np.zeros(p.shape, p.dtype) if k == len(self.v) else self.v[k])

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        listed = [0] * len(self.pairs)
        for (p, g), m, v, k in zip(self.pairs, self.m, self.v, self._state):
            listed[k] += 1
            t = (self.t - 1) * self._repeats[k] + listed[k]   # torch counts each listing's step
            step_size = self.lr / (1 - b1 ** t)
            bc2_sqrt = math.sqrt(1 - b2 ** t)        # Python floats keep float32 float32
            dt = p.dtype.type                        # the scalars as NumPy rounds them for p's dtype
            flat_p, flat_g, flat_m, flat_v = (_flat(a) for a in (p, g, m, v))
            updates.adam(flat_p, flat_g, flat_m, flat_v, dt(1 - b1), dt(b2), dt(1 - b2), dt(step_size),
                         dt(bc2_sqrt), dt(self.eps), dt(self.weight_decay), self.weight_decay != 0)
            for a, flat in ((p, flat_p), (m, flat_m), (v, flat_v)):
                if not a.flags.c_contiguous:         # flat is a copy (a module's own never is): write it back
                    a[...] = flat.reshape(a.shape)

    def zero_grad(self):
        for _, g in self.pairs:
            g.fill(0)
