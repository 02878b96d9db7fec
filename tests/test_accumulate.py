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
from scratchrnn import functional as F, layout
from scratchrnn.modules.base import Module
from layer_cases import KINDS as LAYER_KINDS, layer_params
from module_cases import CONFIGS, KINDS, config_id, make, problem
from tolerances import EPS32, F64_LAYOUT

NAMES = ("dw_ih", "dw_hh", "db_ih", "db_hh", "dw_hr")


def one_layer(kind, proj, bias, N, lengths=None, seed=0, T=6, I=3, H=5, P=2):
    """(backward, its positional arguments): one float64 layer's forward run, and the call
    that takes its gradients with whatever keywords the test adds."""
    rng = np.random.default_rng(seed)
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


def check_adds_into(backward, args, proj):
    """``accumulate=`` arrays holding other values end up with those values plus the fresh
    gradients, and are what the backward returns; from zeros, the fresh gradients' bits."""
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


@pytest.mark.parametrize("N", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind, proj", LAYER_KINDS)
def test_functional_backward_adds_into_the_arrays_given(kind, proj, bias, N):
    backward, args = one_layer(kind, proj, bias, N, lengths=np.arange(N) % 6 + 1)
    check_adds_into(backward, args, proj)


@pytest.mark.parametrize("kind, proj", LAYER_KINDS)
def test_functional_backward_adds_into_the_arrays_given_in_row_blocks(kind, proj, two_threads):
    """The same with enough work for row blocks (checked, not assumed): block 0 adds into the
    arrays, the other blocks' partial sums are added after."""
    T, N, I, H, P = 32, 32, 16, 64, 32
    backward, args = one_layer(kind, proj, True, N, lengths=np.arange(N) % T + 1, T=T, I=I, H=H, P=P)
    w_hh = args[-1].w_hh
    assert layout.blocks(T, N, w_hh) > 1, "this case no longer runs in blocks: pick a bigger one"
    check_adds_into(backward, args, proj)


@pytest.mark.parametrize("bad, error, message", [
    (lambda a: a[:1] + (a[1].astype(np.float32),) + a[2:], TypeError, "dw_hh a numpy.ndarray of dtype float64"),
    (lambda a: (a[0][:, :-1],) + a[1:], ValueError, r"dw_ih of shape \(15, 3\)"),
    (lambda a: (np.asfortranarray(a[0]),) + a[1:], ValueError, "dw_ih C-contiguous"),
    (lambda a: a[:3], ValueError, "got 3 arrays"),
    (lambda a: a + (np.zeros((2, 5)),), ValueError, "no such parameter"),
    (lambda a: a[:2] + (None,) + a[3:], ValueError, r"db_ih of shape \(15,\), got None"),
    (lambda a: (np.broadcast_to(a[0], a[0].shape),) + a[1:], ValueError, "dw_ih writeable"),
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


def not_in_place(self, name, g):
    raise AssertionError(f"{name}: added after the pass, not in place")


@pytest.mark.parametrize("cfg", CONFIGS, ids=config_id)
@pytest.mark.parametrize("kind", KINDS)
def test_module_grads_are_the_same_arrays_and_add_up(kind, cfg, monkeypatch):
    """Two backwards add into the arrays ``grads`` holds, in place (the add after the pass,
    ``Module._accumulate``, is made to fail), and a backward after ``zero_grad`` gives the
    first one's gradients bit for bit."""
    monkeypatch.setattr(Module, "_accumulate", not_in_place)
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
    for k, v in m.grads.items():                      # g + 1 in both, and 0 + g in place: the same bits
        np.testing.assert_array_equal(v, first[k] + 1 if k == "weight_hh_l1" else first[k], err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_grads_added_in_place_or_after(dtype, monkeypatch):
    rng = np.random.default_rng(4)
    lin = sr.Linear(7, 3, bias=False, dtype=dtype, seed=0)
    x, dy = rng.standard_normal((5, 4, 7)).astype(dtype), rng.standard_normal((5, 4, 3)).astype(dtype)
    weight_grad = lin.grads["weight"]
    with monkeypatch.context() as patch:
        patch.setattr(Module, "_accumulate", not_in_place)
        lin(x)
        lin.backward(dy)
    assert lin.grads["weight"] is weight_grad
    x2, dy2 = x.reshape(-1, 7).astype(np.float64), dy.reshape(-1, 3).astype(np.float64)
    K = x2.shape[0]                                  # 20 products per element, each sum within
    u = (EPS32 if dtype == np.float32 else np.finfo(np.float64).eps) / 2   # γ_K·Σ|terms| of the exact one
    bound = K * u / (1 - K * u) * (np.abs(dy2).T @ np.abs(x2)) + 2 ** -52 * np.abs(dy2.T @ x2)
    assert np.all(np.abs(weight_grad - dy2.T @ x2) <= bound)
    first = weight_grad.copy()
    lin.grads["weight"] = np.asfortranarray(first)   # another layout: into zeroed scratch, added after
    lin(x)
    lin.backward(dy)
    np.testing.assert_array_equal(lin.grads["weight"], 2 * first)   # first + the same bits again


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cls", [sr.RNNCell, sr.LSTMCell, sr.GRUCell])
def test_cell_grads_are_the_same_arrays_and_add_up(cls, bias, monkeypatch):
    """A cell's step backward adds into ``grads`` in place too; after ``zero_grad`` the same
    step gives the same gradients bit for bit."""
    monkeypatch.setattr(Module, "_accumulate", not_in_place)
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
