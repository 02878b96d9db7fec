"""Gradient clipping and optimizers over modules, matching torch.nn.utils / torch.optim.

They work on anything with ``named_parameters()`` (live arrays, updated in place)
and a ``grads`` dict with the same names: every scratchrnn module.
"""

import math
import numbers

import numpy as np


def _pairs(modules):
    """[(param, grad)] over a module or a list of modules."""
    if hasattr(modules, "named_parameters"):
        modules = [modules]
    pairs = []
    for m in modules:
        if not (hasattr(m, "named_parameters") and hasattr(m, "grads")):
            raise TypeError(f"expected scratchrnn modules, got {type(m).__name__}")
        pairs += [(p, m.grads[name]) for name, p in m.named_parameters()]
    if not pairs:
        raise ValueError("no parameters given")
    return pairs


def _number(name, value, low=0.0, allow_inf=False):
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real) and value >= low
          and (np.isfinite(value) or (allow_inf and value == np.inf)))
    if not ok:
        raise ValueError(f"{name} must be a {'' if allow_inf else 'finite '}number >= {low}, "
                         f"got {value!r}")
    return float(value)


def clip_grad_norm(modules, max_norm):
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping, like ``torch.nn.utils.clip_grad_norm_``
    (which scales by ``max_norm / (norm + 1e-6)`` when that factor is below 1);
    ``max_norm=inf`` only measures.
    """
    max_norm = _number("max_norm", max_norm, allow_inf=True)
    grads = [g for _, g in _pairs(modules)]
    total = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads)))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value(modules, clip_value):
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    clip_value = _number("clip_value", clip_value)
    for _, g in _pairs(modules):
        np.clip(g, -clip_value, clip_value, out=g)


class SGD:
    """``torch.optim.SGD`` (dampening 0, no Nesterov): with momentum μ and weight decay λ,
    ``g ← g + λp``;  ``b ← g`` on the first step, else ``b ← μb + g``;  ``p ← p − lr·b``.
    """

    def __init__(self, modules, lr, momentum=0.0, weight_decay=0.0):
        self.pairs = _pairs(modules)
        self.lr = _number("lr", lr)
        self.momentum = _number("momentum", momentum)
        self.weight_decay = _number("weight_decay", weight_decay)
        self.buffers = [None] * len(self.pairs)

    def step(self):
        for k, (p, g) in enumerate(self.pairs):
            d = g + self.weight_decay * p if self.weight_decay else g
            if self.momentum:
                b = self.buffers[k]
                self.buffers[k] = b = d.copy() if b is None else b * self.momentum + d
                d = b
            p -= self.lr * d

    def zero_grad(self):
        for _, g in self.pairs:
            g.fill(0)


class Adam:
    """``torch.optim.Adam`` (no amsgrad): at step t, with g ← g + λp when weight decay λ > 0,
    ``m ← m + (1−β₁)(g − m)``, ``v ← β₂v + (1−β₂)g²``,
    ``p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)``.
    """

    def __init__(self, modules, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.pairs = _pairs(modules)
        self.lr = _number("lr", lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2
                and all(isinstance(b, numbers.Real) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _number("eps", eps)
        self.weight_decay = _number("weight_decay", weight_decay)
        self.t = 0
        self.m = [np.zeros_like(p) for p, _ in self.pairs]
        self.v = [np.zeros_like(p) for p, _ in self.pairs]

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1 ** self.t)
        bc2_sqrt = math.sqrt(1 - b2 ** self.t)          # Python floats keep float32 float32
        for (p, g), m, v in zip(self.pairs, self.m, self.v):
            if self.weight_decay:
                g = g + self.weight_decay * p
            m += (1 - b1) * (g - m)                  # torch: exp_avg.lerp_(grad, 1 - β₁)
            v *= b2
            v += (1 - b2) * g * g
            p -= step_size * m / (np.sqrt(v) / bc2_sqrt + self.eps)

    def zero_grad(self):
        for _, g in self.pairs:
            g.fill(0)
