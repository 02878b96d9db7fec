"""The optimizer's compiled passes (scratchrnn.kernels.updates) against the NumPy expressions
they replace: Adam and SGD to the bit in float32 and float64, whatever the arrays' layout; the
norm's Σ g² against an exactly rounded sum."""

import math
import re

import numpy as np
import pytest

import scratchrnn as sr
from scratchrnn.kernels import updates

pytestmark = pytest.mark.kernel

SHAPES = [(12, 5), (7,), (3, 4, 2), (1,)]


class Params:
    """The least a module offers the optimizers: live parameters and a grads dict."""

    def __init__(self, arrays, grads):
        self._params, self.grads = arrays, grads

    def named_parameters(self):
        return list(self._params.items())


def numpy_adam(p, g, m, v, t, lr, betas, eps, weight_decay):
    """One step of Adam as NumPy expressions (the optimizer's docstring), in place."""
    b1, b2 = betas
    step_size = lr / (1 - b1 ** t)
    bc2_sqrt = math.sqrt(1 - b2 ** t)
    if weight_decay:
        g = g + weight_decay * p
    m += (1 - b1) * (g - m)
    v *= b2
    v += (1 - b2) * g * g
    p -= step_size * m / (np.sqrt(v) / bc2_sqrt + eps)


def _draw(rng, dtype):
    params = {f"w{i}": rng.standard_normal(s).astype(dtype) for i, s in enumerate(SHAPES)}
    return params, {k: np.zeros_like(p) for k, p in params.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam_is_its_numpy_expressions_to_the_bit(dtype, weight_decay):
    rng = np.random.default_rng(0)
    params, grads = _draw(rng, dtype)
    ref = {k: (p.copy(), np.zeros_like(p), np.zeros_like(p)) for k, p in params.items()}
    kw = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    opt = sr.Adam(Params(params, grads), **kw)
    for t in range(1, 6):
        for k, g in grads.items():
            g[...] = rng.standard_normal(g.shape) * 10.0 ** rng.integers(-4, 3)
            numpy_adam(*ref[k][:1], g.copy(), *ref[k][1:], t, **kw)
        opt.step()
    for (k, p), m, v in zip(params.items(), opt.m, opt.v):
        np.testing.assert_array_equal(p, ref[k][0])
        np.testing.assert_array_equal(m, ref[k][1])
        np.testing.assert_array_equal(v, ref[k][2])


def numpy_sgd(p, g, buffer, lr, momentum, weight_decay):
    """One step of SGD as NumPy expressions (the optimizer's docstring), p in place; returns the
    new momentum buffer (None without momentum; ``buffer`` None on the first step)."""
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        buffer = g.copy() if buffer is None else buffer * momentum + g
        g = buffer
    p -= lr * g
    return buffer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.05), (0.8, 0.05)])
def test_sgd_is_its_numpy_expressions_to_the_bit(dtype, momentum, weight_decay):
    rng = np.random.default_rng(3)
    params, grads = _draw(rng, dtype)
    ref = {k: p.copy() for k, p in params.items()}
    buffers = dict.fromkeys(params)
    kw = dict(lr=0.03, momentum=momentum, weight_decay=weight_decay)
    opt = sr.SGD(Params(params, grads), **kw)
    for _ in range(5):
        for k, g in grads.items():
            g[...] = rng.standard_normal(g.shape) * 10.0 ** rng.integers(-4, 3)
            buffers[k] = numpy_sgd(ref[k], g.copy(), buffers[k], **kw)
        opt.step()
    for (k, p), b in zip(params.items(), opt.buffers):
        np.testing.assert_array_equal(p, ref[k])
        if momentum:
            np.testing.assert_array_equal(b, buffers[k])
        else:
            assert b is None


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgd_steps_a_parameter_listed_twice_as_its_numpy_expressions(weight_decay):
    """A parameter listed twice shares one momentum buffer; each listing's first step starts it
    afresh (torch's per-parameter loop), later steps carry it on, to the bit."""
    rng = np.random.default_rng(5)
    p = rng.standard_normal((4, 3)).astype(np.float32)
    g = np.zeros_like(p)
    ref, buffer = p.copy(), None
    kw = dict(lr=0.05, momentum=0.9, weight_decay=weight_decay)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt = sr.SGD([Params({"w": p}, {"w": g})] * 2, **kw)
    for step in range(3):
        g[...] = rng.standard_normal(g.shape)
        for _ in range(2):                         # the two listings, one after the other
            buffer = numpy_sgd(ref, g.copy(), None if step == 0 else buffer, **kw)
        opt.step()
        np.testing.assert_array_equal(p, ref)
        np.testing.assert_array_equal(opt.buffers[0], buffer)


def test_sgd_refuses_a_momentum_buffer_unlike_its_parameter_and_changes_nothing():
    """A buffer set from outside (a checkpoint's, say) of another shape or dtype, read-only, or no
    ndarray: the compiled pass would run past its end or fail halfway, so the step is refused
    before any parameter moves."""
    rng = np.random.default_rng(6)
    params = {"a": rng.standard_normal(5).astype(np.float32), "b": rng.standard_normal(3).astype(np.float32)}
    grads = {k: np.ones_like(v) for k, v in params.items()}
    opt = sr.SGD(Params(params, grads), lr=0.1, momentum=0.9)
    opt.step()
    before = {k: v.copy() for k, v in params.items()}
    read_only = np.zeros(3, np.float32)
    read_only.flags.writeable = False
    for bad, got in ((np.zeros(2, np.float32), "shape (2,), dtype float32"),
                     (np.zeros(3, np.float64), "shape (3,), dtype float64"),
                     (read_only, "shape (3,), dtype float32, read-only"), ([0.0] * 3, "list")):
        opt.buffers[1] = bad
        with pytest.raises(ValueError, match=rf"expected momentum buffer 1 as a writeable ndarray of shape \(3,\) "
                                             rf"and dtype float32, as its parameter, got {re.escape(got)}$"):
            opt.step()
        for k, v in params.items():
            np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_a_weight_decay_that_rounds_to_zero_still_adds_zero_times_p(name):
    """1e-50 is 0 in float32, but a weight decay was asked for: g + 0·p, as the NumPy expression
    (and torch) take it, turns an inf weight into NaN; without one it stays inf."""
    for weight_decay, expected in ((1e-50, np.isnan), (0.0, np.isinf)):
        p = np.array([np.inf, 1.0], np.float32)
        opt = (sr.Adam if name == "adam" else sr.SGD)(Params({"w": p}, {"w": np.ones_like(p)}), lr=0.1,
                                                      weight_decay=weight_decay)
        with np.errstate(invalid="ignore"):         # 0·inf: with the JIT off NumPy's scalars warn of it
            opt.step()
        assert expected(p[0]) and np.isfinite(p[1])


# Each optimizer, and the name of its per-parameter state (a list of arrays, one per parameter)
OPTIMIZERS = {"adam": (lambda m: sr.Adam(m, lr=0.1), "m"),
              "sgd": (lambda m: sr.SGD(m, lr=0.1, momentum=0.9, weight_decay=0.01), "buffers")}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_update_arrays_laid_out_otherwise_as_contiguous_ones(name):
    """A Fortran-ordered parameter and a strided gradient, and from the second step a
    Fortran-ordered state (Adam's m, SGD's momentum buffer): the compiled pass works on copies
    and writes them back, so they end as the C-ordered twins do."""
    make, state = OPTIMIZERS[name]
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 4)).astype(np.float32)
    wide = rng.standard_normal((6, 8)).astype(np.float32)
    odd = Params({"w": np.asfortranarray(base.copy())}, {"w": wide[:, ::2]})        # F order; a strided view
    plain = Params({"w": base.copy()}, {"w": np.ascontiguousarray(wide[:, ::2])})
    opts = [make(m) for m in (odd, plain)]
    for o in opts:
        o.step()
    getattr(opts[0], state)[0] = np.asfortranarray(getattr(opts[0], state)[0])     # the state too
    for _ in range(2):
        for o in opts:
            o.step()
    assert odd._params["w"].flags.f_contiguous
    np.testing.assert_array_equal(odd._params["w"], plain._params["w"])
    np.testing.assert_array_equal(getattr(opts[0], state)[0], getattr(opts[1], state)[0])
    assert not np.array_equal(plain._params["w"], base)                             # it did step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [10_000, 33, 7, 1, 0])
def test_sum_of_squares_is_within_its_rounding_bound_of_the_exact_sum(dtype, n):
    g = (np.random.default_rng(2).standard_normal(n) * 3).astype(dtype)
    exact = math.fsum(float(x) * float(x) for x in g)    # the squares are exact in float64 for float32
    got = updates.sum_of_squares(g)
    # a float64 sum of n positive terms, added in any order: relative error at most (n − 1)·2⁻⁵³,
    # plus the rounding of each float64 square (one more 2⁻⁵³) for float64 data
    assert abs(got - exact) <= (g.size + 1) * 2.0 ** -53 * exact
    norm = sr.clip_grad_norm(Params({"w": g.copy()}, {"w": g[::-1]}), np.inf)   # a strided view
    assert abs(norm - math.sqrt(exact)) <= (g.size + 2) * 2.0 ** -53 * math.sqrt(exact)
