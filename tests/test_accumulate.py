"""Gradients added in place: a backward adds its weight and bias gradients into the arrays
that hold the sums so far (``accumulate=`` of the functional backwards, a module's ``grads``),
as BLAS stores its products, instead of returning fresh arrays that are then added.

Starting from zeros the sums are this backward's gradients alone, bit for bit as the fresh
arrays it returns without ``accumulate``; starting from other values they are those values
plus the gradients, the products summed into them in another order (``F64_LAYOUT``).
"""

import numpy as np
import pytest

import scratchrnn as sr
from scratchrnn import functional as F
from layer_cases import layer_params
from module_cases import CONFIGS, KINDS, config_id, make, problem
from tolerances import F64_LAYOUT

NAMES = ("dw_ih", "dw_hh", "db_ih", "db_hh", "dw_hr")


def one_layer(kind, proj, bias, N, lengths=None, seed=0):
    """(backward, its positional arguments): one float64 layer's forward run, and the call
    that takes its gradients with whatever keywords the test adds."""
    rng = np.random.default_rng(seed)
    T, I, H, P = 6, 3, 5, 2
    p = layer_params(kind, proj, N, I, H, P, rng)
    x = rng.standard_normal((T, N, I))
    b_ih, b_hh = (p["b_ih"], p["b_hh"]) if bias else (None, None)
    if kind == "lstm":
        out, h_n, c_n, cache = F.lstm_forward(x, p["h0"], p["c0"], p["w_ih"], p["w_hh"], b_ih, b_hh,
                                              p["w_hr"] if proj else None, lengths)
        args = (rng.standard_normal(out.shape), rng.standard_normal(h_n.shape), rng.standard_normal(c_n.shape), cache)
        return F.lstm_backward, args
    fwd, bwd = (F.gru_forward, F.gru_backward) if kind == "gru" else (F.rnn_forward, F.rnn_backward)
    extra = {} if kind == "gru" else {"nonlinearity": kind}
    out, h_n, cache = fwd(x, p["h0"], p["w_ih"], p["w_hh"], b_ih, b_hh, lengths=lengths, **extra)
    return bwd, (rng.standard_normal(out.shape), rng.standard_normal(h_n.shape), cache)


def param_grads(g):
    """The parameter gradients of a backward's result, in ``accumulate`` order (None kept)."""
    return tuple(getattr(g, name, None) for name in NAMES)


CASES = [("tanh", False), ("relu", False), ("lstm", False), ("lstm", True), ("gru", False)]


@pytest.mark.parametrize("N", [1, 16])                   # 16: a pass in row blocks on 2 threads
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind, proj", CASES)
def test_functional_backward_adds_into_the_arrays_given(kind, proj, bias, N):
    backward, args = one_layer(kind, proj, bias, N, lengths=np.arange(N) % 6 + 1)
    fresh = param_grads(backward(*args))
    rng = np.random.default_rng(1)
    held = tuple(None if g is None else rng.standard_normal(g.shape) for g in fresh)
    into = tuple(None if h is None else h.copy() for h in held)
    got = param_grads(backward(*args, accumulate=into[:5 if proj else 4]))
    for name, g, a, h, f in zip(NAMES, got, into, held, fresh):
        if f is None:
            assert g is None and a is None, name
            continue
        assert g is a, f"{name}: the result is the array it was added into"
        # the same products, summed into what the array held: BLAS adds them in another
        # order than into zeros (and a chunk at a time for dw_hh), as another layout would
        np.testing.assert_allclose(g, h + f, **F64_LAYOUT, err_msg=name)
    zeros = tuple(None if f is None else np.zeros_like(f) for f in fresh)
    from_zero = param_grads(backward(*args, accumulate=zeros[:5 if proj else 4]))
    for name, g, f in zip(NAMES, from_zero, fresh):
        if f is not None:
            np.testing.assert_array_equal(g, f, err_msg=name)   # 0 + x = x: bit for bit


@pytest.mark.parametrize("bad, error, message", [
    (lambda a: a[:1] + (a[1].astype(np.float32),) + a[2:], TypeError, "dw_hh of dtype float64"),
    (lambda a: (a[0][:, :-1],) + a[1:], ValueError, r"dw_ih of shape \(15, 3\)"),
    (lambda a: (np.asfortranarray(a[0]),) + a[1:], ValueError, "C-contiguous and writeable"),
    (lambda a: a[:3], ValueError, "got 3 arrays"),
    (lambda a: a + (np.zeros((2, 5)),), ValueError, "no such parameter"),
])
def test_functional_accumulate_refused_with_what_was_expected(bad, error, message):
    backward, args = one_layer("gru", False, True, 2)
    fresh = param_grads(backward(*args))[:4]
    into = bad(tuple(np.zeros_like(f) for f in fresh))
    before = [a.copy() for a in into if a is not None and a.ndim]
    with pytest.raises(error, match=message):
        backward(*args, accumulate=into)
    for a, b in zip([a for a in into if a is not None and a.ndim], before):
        np.testing.assert_array_equal(a, b)                 # nothing was added anywhere


@pytest.mark.parametrize("cfg", CONFIGS, ids=config_id)
@pytest.mark.parametrize("kind", KINDS)
def test_module_grads_are_the_same_arrays_and_add_up(kind, cfg):
    """Two backwards add into the arrays ``grads`` holds (they stay the same objects), and a
    backward after ``zero_grad`` gives the first one's gradients bit for bit."""
    m = make(kind, **cfg)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(2))
    arrays = dict(m.grads)
    m(x, hx)
    m.backward(d_out, d_fin)
    first = {k: v.copy() for k, v in m.grads.items()}
    m(x, hx)
    m.backward(d_out, d_fin)
    for k, v in m.grads.items():
        assert v is arrays[k], k
        np.testing.assert_allclose(v, 2 * first[k], **F64_LAYOUT, err_msg=k)   # as in the functional test
    m.zero_grad()
    m(x, hx)
    m.backward(d_out, d_fin)
    for k, v in m.grads.items():
        np.testing.assert_array_equal(v, first[k], err_msg=k)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_module_grads_replaced_by_other_arrays_still_add_up(kind):
    """A ``grads`` entry replaced by an array the backward cannot add into in place (Fortran
    order, read-only views aside) still receives the gradients, added after."""
    m = make(kind, num_layers=2)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(3))
    m(x, hx)
    m.backward(d_out, d_fin)
    first = {k: v.copy() for k, v in m.grads.items()}
    m.zero_grad()
    m.grads["weight_hh_l1"] = np.asfortranarray(np.ones_like(first["weight_hh_l1"]))
    m(x, hx)
    m.backward(d_out, d_fin)
    for k, v in m.grads.items():
        want = first[k] + 1 if k == "weight_hh_l1" else first[k]
        np.testing.assert_allclose(v, want, rtol=4e-16, atol=0, err_msg=k)   # one addition: ≤ 1 ulp (2⁻⁵²)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_grads_added_in_place_or_after(dtype):
    rng = np.random.default_rng(4)
    lin = sr.Linear(7, 3, dtype=dtype, seed=0)
    x, dy = rng.standard_normal((5, 4, 7)).astype(dtype), rng.standard_normal((5, 4, 3)).astype(dtype)
    weight_grad = lin.grads["weight"]
    lin(x)
    lin.backward(dy)
    assert lin.grads["weight"] is weight_grad
    x2, dy2 = x.reshape(-1, 7).astype(np.float64), dy.reshape(-1, 3).astype(np.float64)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(weight_grad, dy2.T @ x2, rtol=20 * eps, atol=20 * eps)   # 20 terms of O(1)
    first = weight_grad.copy()
    lin.grads["weight"] = np.asfortranarray(first)           # another layout: added after the pass
    lin(x)
    lin.backward(dy)
    np.testing.assert_allclose(lin.grads["weight"], 2 * first, rtol=eps, atol=0)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cls", [sr.RNNCell, sr.LSTMCell, sr.GRUCell])
def test_cell_grads_are_the_same_arrays_and_add_up(cls, bias):
    """A cell's step backward adds into ``grads`` in place too; after ``zero_grad`` the same
    step gives the same gradients bit for bit."""
    m = cls(4, 5, bias=bias, dtype=np.float64, seed=0)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4))
    hx = (rng.standard_normal((3, 5)), rng.standard_normal((3, 5))) if cls is sr.LSTMCell else rng.standard_normal((3, 5))
    d = (rng.standard_normal((3, 5)), rng.standard_normal((3, 5))) if cls is sr.LSTMCell else rng.standard_normal((3, 5))
    arrays = dict(m.grads)
    m(x, hx)
    m.backward(d)
    first = {k: v.copy() for k, v in m.grads.items()}
    assert all(v.any() for v in first.values())
    m(x, hx)
    m.backward(d)
    for k, v in m.grads.items():
        assert v is arrays[k], k
        np.testing.assert_allclose(v, 2 * first[k], **F64_LAYOUT, err_msg=k)
    m.zero_grad()
    m(x, hx)
    m.backward(d)
    for k, v in m.grads.items():
        np.testing.assert_array_equal(v, first[k], err_msg=k)
