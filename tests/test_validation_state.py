"""Bad state dicts, constructor arguments and call orders get clear errors and change nothing.

``load_state_dict`` is all or nothing: a rejected dict changes no parameter. A rejected
``forward`` or ``backward`` leaves the cache of the last good forward and the gradients as
they were, so a following ``backward`` differentiates the last *good* forward, exactly as if
the bad call never happened. Helpers and the error contract: ``validation_helpers``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchrnn as sr
from validation_helpers import SETTINGS, assert_clear_error, shape_str, with_nonfinite, wrong_shapes

try:
    import torch
except ImportError:
    torch = None


# ---------------------------------------------------------------------------
# load_state_dict
# ---------------------------------------------------------------------------

@st.composite
def any_module(draw):
    kind = draw(st.sampled_from(["rnn", "lstm", "rnncell", "lstmcell"]))
    dt = draw(st.sampled_from([np.float32, np.float64]))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    if kind in ("rnn", "lstm"):
        cls = sr.RNN if kind == "rnn" else sr.LSTM
        return cls(2, 3, num_layers=draw(st.integers(1, 2)), bidirectional=draw(st.booleans()),
                   bias=bias, dtype=dt, seed=seed)
    cls = sr.RNNCell if kind == "rnncell" else sr.LSTMCell
    return cls(2, 3, bias=bias, dtype=dt, seed=seed)


@given(m=any_module(), data=st.data())
@settings(max_examples=80, **SETTINGS)
def test_load_state_dict_rejects_malformed_state(m, data):
    before = m.state_dict()
    # a valid replacement, so that a partial load would show
    state = {k: np.random.default_rng(7).uniform(-1, 1, v.shape) for k, v in before.items()}
    key = data.draw(st.sampled_from(sorted(state)))
    want = shape_str(before[key].shape)
    as_torch = data.draw(st.booleans()) if torch is not None else False   # tensors too, when torch is here
    wrap = (lambda a: torch.from_numpy(np.asarray(a))) if as_torch else (lambda a: a)
    case = data.draw(st.sampled_from(["missing", "extra", "shape", "dtype", "nonfinite", "overflow",
                                      "ragged", "not_mapping"]))
    if case == "missing":
        del state[key]
        assert_clear_error(lambda: m.load_state_dict(state), ValueError, "missing", repr(key))
    elif case == "extra":
        extra = data.draw(st.sampled_from(["weight_ih_l9", key + "_extra", "bias", "weight_hr_l0"]))
        state[extra] = np.zeros(3)
        assert_clear_error(lambda: m.load_state_dict(state), ValueError, "unexpected", repr(extra))
    elif case == "shape":
        bad = np.zeros(data.draw(st.sampled_from(wrong_shapes(before[key].shape))))
        state[key] = wrap(bad)
        assert_clear_error(lambda: m.load_state_dict(state), ValueError, key, shape_str(bad.shape), want)
    elif case == "dtype":
        dt = data.draw(st.sampled_from([np.int64, np.int32, np.bool_] + [np.complex128] * (not as_torch)))
        state[key] = wrap(np.ones(before[key].shape, dt))
        assert_clear_error(lambda: m.load_state_dict(state), TypeError, key, "floating", np.dtype(dt).name)
    elif case == "nonfinite":
        bad, word, idx = with_nonfinite(data, state[key])
        state[key] = wrap(bad)
        assert_clear_error(lambda: m.load_state_dict(state), ValueError, key, word, idx)
    elif case == "overflow":                            # finite float64 that is inf in the module's dtype
        if m.dtype == np.float64:
            bad = np.full(before[key].shape, np.inf)
            word = "inf"
        else:
            bad = np.full(before[key].shape, 1e300)
            word = "overflows float32"
        state[key] = wrap(bad)
        assert_clear_error(lambda: m.load_state_dict(state), ValueError, key, word)
    elif case == "ragged":
        state[key] = [[0.0], [0.0, 1.0]]
        assert_clear_error(lambda: m.load_state_dict(state), TypeError, key, want, "list")
    else:
        bad = data.draw(st.sampled_from([list(state.items()), None, 3.0]))
        assert_clear_error(lambda: m.load_state_dict(bad), TypeError, "mapping", type(bad).__name__)
    after = m.state_dict()
    assert list(after) == list(before)
    for k in before:                                    # all or nothing: a rejected dict changes nothing
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)
        assert after[k].dtype == before[k].dtype


# ---------------------------------------------------------------------------
# constructors, backward before forward, the cache after rejected calls
# ---------------------------------------------------------------------------

CTOR_CASES = [
    (sr.RNN, dict(hidden_size=0), ValueError, ["hidden_size", "0"]),
    (sr.LSTM, dict(hidden_size=-3), ValueError, ["hidden_size", "-3"]),
    (sr.RNN, dict(hidden_size=2.5), ValueError, ["hidden_size", "2.5"]),
    (sr.LSTM, dict(hidden_size=True), ValueError, ["hidden_size", "True"]),
    (sr.RNN, dict(input_size=0), ValueError, ["input_size", "0"]),
    (sr.LSTM, dict(input_size="3"), ValueError, ["input_size", "'3'"]),
    (sr.RNN, dict(num_layers=-1), ValueError, ["num_layers", "-1"]),
    (sr.LSTM, dict(num_layers=0), ValueError, ["num_layers", "0"]),
    (sr.RNN, dict(num_layers=2, dropout=1.5), ValueError, ["dropout", "1.5"]),
    (sr.LSTM, dict(num_layers=2, dropout=-0.1), ValueError, ["dropout", "-0.1"]),
    (sr.RNN, dict(num_layers=2, dropout=float("nan")), ValueError, ["dropout", "nan"]),
    (sr.LSTM, dict(num_layers=2, dropout="0.5"), ValueError, ["dropout", "'0.5'"]),
    (sr.RNN, dict(nonlinearity="sigmoid"), ValueError, ["nonlinearity", "'sigmoid'", "'tanh'"]),
    (sr.RNN, dict(dtype=np.int32), TypeError, ["dtype", "float32", "int32"]),
    (sr.LSTM, dict(dtype=np.float16), TypeError, ["dtype", "float16"]),
    (sr.LSTM, dict(dtype="complex"), TypeError, ["dtype", "complex"]),
    (sr.LSTM, dict(proj_size=-1), ValueError, ["proj_size", "-1"]),
    (sr.LSTM, dict(proj_size=1.5), ValueError, ["proj_size", "1.5"]),
    (sr.RNNCell, dict(hidden_size=0), ValueError, ["hidden_size", "0"]),
    (sr.RNNCell, dict(nonlinearity="gelu"), ValueError, ["nonlinearity", "'gelu'"]),
    (sr.RNNCell, dict(dtype=np.int64), TypeError, ["dtype", "int64"]),
    (sr.LSTMCell, dict(input_size=-2), ValueError, ["input_size", "-2"]),
    (sr.LSTMCell, dict(dtype=object), TypeError, ["dtype", "object"]),
]


@pytest.mark.parametrize("cls, kw, kind, needles", CTOR_CASES,
                         ids=[f"{c.__name__}-{k}" for c, k, _, _ in CTOR_CASES])
def test_constructor_rejects_bad_arguments(cls, kw, kind, needles):
    args = dict(input_size=3, hidden_size=4)
    args.update(kw)
    assert_clear_error(lambda: cls(**args), kind, *needles)


def test_proj_size_must_be_smaller_than_hidden_size():
    with pytest.raises(ValueError, match=r"proj_size must be smaller than hidden_size, got proj_size=4 "
                                         r"and hidden_size=4"):
        sr.LSTM(3, 4, proj_size=4)
    m = sr.LSTM(3, 4, proj_size=3)                       # P < H is fine
    with pytest.raises(ValueError, match=r"expected h0 of shape \(D·num_layers=1, 2, 3\), got \(1, 2, 4\)"):
        m(np.zeros((5, 2, 3), np.float32), (np.zeros((1, 2, 4), np.float32), np.zeros((1, 2, 4), np.float32)))


def test_dropout_one_zeroes_the_layer_instead_of_nan():
    """p = 1 is allowed (as in torch): the mask is all zeros, not 0/0 = NaN."""
    m = sr.RNN(2, 3, num_layers=2, dropout=1.0, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 2, 2))
    out, h_n = m(x)
    assert np.all(m._cache.masks[0] == 0)
    ref = sr.RNN(3, 3, dtype=np.float64)                # layer 1 alone, fed zeros
    ref.load_state_dict({k.replace("l1", "l0"): v for k, v in m.state_dict().items() if "l1" in k})
    np.testing.assert_array_equal(out, ref(np.zeros((4, 2, 3)))[0])


@pytest.mark.parametrize("make, grad", [
    (lambda: sr.RNN(2, 3), lambda: np.zeros((4, 1, 3), np.float32)),
    (lambda: sr.LSTM(2, 3, bidirectional=True), lambda: np.zeros((4, 1, 6), np.float32)),
    (lambda: sr.RNNCell(2, 3), lambda: np.zeros((1, 3), np.float32)),
    (lambda: sr.LSTMCell(2, 3), lambda: (np.zeros((1, 3), np.float32), None)),
], ids=["RNN", "LSTM", "RNNCell", "LSTMCell"])
def test_backward_before_forward(make, grad):
    m = make()
    msg = assert_clear_error(lambda: m.backward(grad()), ValueError, "backward", "forward")
    assert type(m).__name__ in msg
    for g in m.grads.values():
        assert not g.any()


def _grads_of(kind, seed=3):
    """A float64 module, a good (x, hx, upstream) and the grads of that one forward/backward."""
    cls = sr.LSTM if kind == "lstm" else sr.RNN
    m = cls(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((5, 2, 3))
    hx = tuple(rng.standard_normal((4, 2, 4)) for _ in range(2 if kind == "lstm" else 1))
    hx = hx if kind == "lstm" else hx[0]
    out, _ = m(x, hx)
    d_out = rng.standard_normal(out.shape)
    dx, _ = m.backward(d_out)
    return m, x, hx, d_out, dx, {k: v.copy() for k, v in m.grads.items()}


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_backward_after_rejected_forward_differentiates_last_good_forward(kind):
    m, x, hx, d_out, dx_ref, grads_ref = _grads_of(kind)
    m.zero_grad()
    m(x, hx)                                            # the last good forward
    bad_calls = [
        lambda: m(x[:, :, :2], hx),                     # wrong feature size
        lambda: m(x.astype(np.float32), hx),            # wrong dtype
        lambda: m(x[:0], None),                         # empty sequence
        lambda: m(np.full((7, 3, 3), np.nan)),          # NaN, and a different T and N
        lambda: m(x, (hx[0][:2], hx[1]) if kind == "lstm" else hx[:2]),   # wrong D·num_layers
    ]
    for call in bad_calls:
        with pytest.raises((ValueError, TypeError)):
            call()
    dx, _ = m.backward(d_out)
    np.testing.assert_array_equal(dx, dx_ref)
    for k, g in grads_ref.items():
        np.testing.assert_array_equal(m.grads[k], g, err_msg=k)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_rejected_backward_keeps_cache_and_grads(kind):
    m, x, hx, d_out, dx_ref, grads_ref = _grads_of(kind)
    m.zero_grad()
    m(x, hx)
    for bad in (d_out[:1], d_out[:, :, :4], d_out.astype(np.float32), d_out[0]):   # (1,N,DH) etc.
        with pytest.raises(ValueError if bad.dtype == np.float64 else TypeError):
            m.backward(bad)
        for g in m.grads.values():
            assert not g.any()
    dx, _ = m.backward(d_out)
    np.testing.assert_array_equal(dx, dx_ref)
    for k, g in grads_ref.items():
        np.testing.assert_array_equal(m.grads[k], g, err_msg=k)


def test_error_messages_read_as_documented():
    """The exact wording of a few messages, so that they cannot rot."""
    m = sr.LSTM(28, 8, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError) as e:
        m(np.zeros((28, 28, 28, 1), np.float32))
    assert str(e.value) == "expected input of shape (T, N, 28) or (T, 28) unbatched, got (28, 28, 28, 1)"
    x = np.zeros((5, 2, 28), np.float32)
    h = np.zeros((1, 2, 8), np.float32)
    with pytest.raises(ValueError) as e:
        m(x, (h, h))
    assert str(e.value) == "expected h0 of shape (D·num_layers=4, 2, 8), got (1, 2, 8)"
    out, _ = m(x)
    with pytest.raises(ValueError) as e:
        m.backward(np.zeros((1, 2, 16), np.float32))
    assert str(e.value) == "expected grad of output of shape (5, 2, 16), got (1, 2, 16)"
    with pytest.raises(TypeError) as e:
        m.backward(out.astype(np.float64))
    assert str(e.value) == "expected grad of output of dtype float32, got float64"
    bad = np.zeros_like(out)
    bad[3, 1, 2] = np.nan
    with pytest.raises(ValueError) as e:
        m.backward(bad)
    assert str(e.value) == "grad of output contains NaN at index (3, 1, 2)"
    with pytest.raises(ValueError) as e:
        m.load_state_dict({**m.state_dict(), "bias_ih_l1": np.zeros((8,))})
    assert str(e.value) == "expected bias_ih_l1 of shape (32,), got (8,)"
