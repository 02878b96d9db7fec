"""Bad input gets a clear ValueError/TypeError that says what was expected and what came.

Hypothesis drives every public entry point (RNN/LSTM forward and backward, the
cells, ``load_state_dict``) with one malformation at a time and asserts that

* the exception is exactly ``ValueError`` or ``TypeError`` (the builtin, not a
  NumPy/Numba/torch subclass) and was raised by scratchrnn's own checks (the
  innermost traceback frame lies in the ``scratchrnn`` package);
* the message names the offending argument and what came (the wrong shape as
  Python prints a tuple, the wrong dtype, ``NaN``/``inf`` with its index, the key)
  and what was expected;
* nothing happened on the way: a failed forward leaves the cache of the last good
  forward and the dropout generator untouched, a failed backward accumulates
  nothing, a failed ``load_state_dict`` changes no parameter.

Decision (documented here and in the tests below): every check runs before any
state changes, so after a rejected ``forward`` a ``backward`` still
differentiates the last *good* forward, exactly as if the bad call never happened.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scratchrnn as sr

torch = pytest.importorskip("torch")

PKG_DIR = Path(sr.__file__).resolve().parent
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def shape_str(shape):
    """A shape as Python prints a tuple."""
    return str(tuple(int(s) for s in shape))


def assert_clear_error(fn, kind, *needles):
    """``fn()`` raises exactly ``kind`` from scratchrnn's code, message holding every needle."""
    with pytest.raises(Exception) as info:
        fn()
    e = info.value
    assert type(e) is kind, f"expected {kind.__name__}, got {type(e).__module__}.{type(e).__name__}: {e}"
    assert type(e).__module__ == "builtins"
    origin = Path(info.traceback[-1].path).resolve()
    assert PKG_DIR in origin.parents, f"raised in {origin}, not by scratchrnn's checks: {e}"
    msg = str(e)
    for n in needles:
        assert n in msg, f"{n!r} not in message {msg!r}"
    return msg


def wrong_shapes(shape):
    """Shapes that are not ``shape``, many of which would broadcast against it."""
    shape = tuple(shape)
    cands = [(), shape[1:], (1,) + shape, shape + (1,), shape[::-1], shape[:-1] + (shape[-1] + 1,)]
    for i in range(len(shape)):
        cands.append(shape[:i] + (1,) + shape[i + 1:])          # a 1 that would broadcast
        cands.append(shape[:i] + (shape[i] + 1,) + shape[i + 1:])
    if len(shape) > 1:
        cands.append(shape[1:] + (1,))
    out = []
    for c in cands:
        if c != shape and c not in out:
            out.append(c)
    return out


def other_dtypes(dt):
    other = np.float64 if dt == np.float32 else np.float32
    return [other, np.float16, np.int64, np.int32, np.bool_, np.complex64]


def non_arrays(a):
    """Things that are not an ndarray standing where ``a`` is needed."""
    return [a.tolist(), tuple(a.tolist()) if a.ndim else (a.item(),), 0.5, a.dtype.type(1.0),
            torch.from_numpy(a.copy())]


def fill(rng, shape, dt):
    return rng.uniform(-1, 1, size=shape).astype(dt)


def with_nonfinite(data, a):
    """Copy of ``a`` with one NaN/inf/-inf; returns (bad array, word in message, index string)."""
    idx = tuple(data.draw(st.integers(0, s - 1)) for s in a.shape)
    val, word = data.draw(st.sampled_from([(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")]))
    bad = a.copy()
    bad[idx] = val
    return bad, word, shape_str(idx)


# ---------------------------------------------------------------------------
# sequence modules
# ---------------------------------------------------------------------------

def assert_common_rejections(case, data, good, dt, name, call_with, extra_non_arrays=()):
    """The cases every entry point shares: wrong dtype, not an array, NaN/inf.

    ``call_with(bad)`` returns the call to make with ``bad`` in place of ``good``.
    Returns False when ``case`` is none of them (the caller checks it).
    """
    if case == "dtype":
        bad = good.astype(data.draw(st.sampled_from(other_dtypes(dt))))
        assert_clear_error(call_with(bad), TypeError, name, str(bad.dtype), str(dt))
    elif case == "not_array":
        bad = data.draw(st.sampled_from(non_arrays(good) + list(extra_non_arrays)))
        assert_clear_error(call_with(bad), TypeError, name, "numpy.ndarray", type(bad).__name__)
    elif case == "nonfinite":
        bad, word, idx = with_nonfinite(data, good)
        assert_clear_error(call_with(bad), ValueError, name, word, idx)
    else:
        return False
    return True


@st.composite
def seq_setups(draw):
    """A small module of random configuration, its good input and initial state."""
    kind = draw(st.sampled_from(["rnn", "lstm"]))
    L = draw(st.integers(1, 2))
    cfg = dict(num_layers=L, bidirectional=draw(st.booleans()), batch_first=draw(st.booleans()),
               bias=draw(st.booleans()), dtype=draw(st.sampled_from([np.float32, np.float64])),
               dropout=draw(st.sampled_from([0.0, 0.5])) if L > 1 else 0.0)
    I, H = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    T, N = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    batched = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    m = (sr.LSTM if kind == "lstm" else sr.RNN)(I, H, seed=seed, **cfg)
    rng = np.random.default_rng(seed)
    dt = np.dtype(cfg["dtype"])
    LD = L * (2 if cfg["bidirectional"] else 1)
    if batched:
        x = fill(rng, (N, T, I) if cfg["batch_first"] else (T, N, I), dt)
        sshape = (LD, N, H)
    else:
        x = fill(rng, (T, I), dt)
        sshape = (LD, H)
    states = [fill(rng, sshape, dt) for _ in range(2 if kind == "lstm" else 1)]
    return dict(m=m, kind=kind, x=x, states=states, dt=dt, LD=LD, I=I, H=H, N=N, T=T,
                batched=batched, sshape=sshape)


def pack(s, states):
    return tuple(states) if s["kind"] == "lstm" else states[0]


def snapshot(m):
    return m._cache, m.generator.bit_generator.state


def assert_untouched(m, snap):
    cache, gen = snap
    assert m._cache is cache, "a rejected forward replaced the cache of the last good forward"
    assert m.generator.bit_generator.state == gen, "a rejected forward consumed dropout randomness"


@given(s=seq_setups(), data=st.data())
@settings(max_examples=80, **SETTINGS)
def test_sequence_forward_rejects_malformed_input(s, data):
    m, x, dt, I = s["m"], s["x"], s["dt"], s["I"]
    hx = pack(s, s["states"])
    m(x, hx)                                            # a good forward first
    snap = snapshot(m)
    case = data.draw(st.sampled_from(["rank", "features", "dtype", "not_array", "nonfinite", "empty"]))
    if case == "rank":
        bad = np.zeros(data.draw(st.sampled_from([(), (3,), (2, 2, 2, I)])), dt)
        assert_clear_error(lambda: m(bad, hx), ValueError, "input", shape_str(bad.shape),
                           f"(T, {I}) unbatched", "expected", "got")
    elif case == "features":
        J = data.draw(st.sampled_from([j for j in (1, 2, 3, 5) if j != I]))
        bad = np.zeros(x.shape[:-1] + (J,), dt)
        assert_clear_error(lambda: m(bad, hx), ValueError, "input", shape_str(bad.shape), f", {I})")
    elif assert_common_rejections(case, data, x, dt, "input", lambda bad: (lambda: m(bad, hx))):
        pass
    else:                                               # empty T or N
        axis = data.draw(st.integers(0, x.ndim - 2))
        shape = list(x.shape)
        shape[axis] = 0
        bad = np.zeros(shape, dt)
        assert_clear_error(lambda: m(bad, None), ValueError, "empty", shape_str(bad.shape))
    assert_untouched(m, snap)


@given(s=seq_setups(), data=st.data())
@settings(max_examples=80, **SETTINGS)
def test_sequence_forward_rejects_malformed_state(s, data):
    m, x, dt, states = s["m"], s["x"], s["dt"], s["states"]
    m(x, pack(s, states))
    snap = snapshot(m)
    which = data.draw(st.integers(0, len(states) - 1))
    name = ("h0", "c0")[which]
    good = states[which]
    case = data.draw(st.sampled_from(["shape", "layers", "dtype", "not_array", "nonfinite"]
                                     + (["not_pair"] if s["kind"] == "lstm" else [])))

    def call_with(bad):
        new = list(states)
        new[which] = bad
        return lambda: m(x, pack(s, new))

    expected_doc = (f"num_layers={s['LD']}, {s['N']}, {s['H']})" if s["batched"]
                    else f"num_layers={s['LD']}, {s['H']})")
    if case == "shape":
        bad = np.zeros(data.draw(st.sampled_from(wrong_shapes(good.shape))), dt)
        assert_clear_error(call_with(bad), ValueError, name, shape_str(bad.shape), expected_doc)
    elif case == "layers":                              # wrong D·num_layers, e.g. forgot the directions
        LD = data.draw(st.sampled_from([k for k in (1, 2, 3, 4) if k != s["LD"]]))
        bad = np.zeros((LD,) + good.shape[1:], dt)
        assert_clear_error(call_with(bad), ValueError, name, shape_str(bad.shape), expected_doc)
    elif assert_common_rejections(case, data, good, dt, name, call_with):
        pass
    else:                                               # LSTM hx that is not a pair
        bad, word = data.draw(st.sampled_from([
            (good, "ndarray"), (np.stack(states), "ndarray"), ((good,), "length 1"),
            (tuple(states) + (good,), "length 3"), ({"h0": good, "c0": states[1]}, "dict")]))
        assert_clear_error(lambda: m(x, bad), TypeError, "hx", "pair", word)
    assert_untouched(m, snap)


@given(s=seq_setups(), data=st.data())
@settings(max_examples=80, **SETTINGS)
def test_sequence_backward_rejects_malformed_grads(s, data):
    m, x, dt = s["m"], s["x"], s["dt"]
    out, finals = m(x, pack(s, s["states"]))
    finals = list(finals) if s["kind"] == "lstm" else [finals]
    rng = np.random.default_rng(0)
    d_out = fill(rng, out.shape, dt)
    d_finals = [fill(rng, f.shape, dt) for f in finals]
    target = data.draw(st.sampled_from(["out"] + [f"state{i}" for i in range(len(finals))]))
    if target == "out":
        good, name = d_out, "grad of output"
    else:
        i = int(target[-1])
        good, name = d_finals[i], ("grad of h_n", "grad of c_n")[i]
    case = data.draw(st.sampled_from(["shape", "dtype", "not_array", "nonfinite"]
                                     + (["not_pair"] if s["kind"] == "lstm" else [])))

    def call_with(bad):
        if target == "out":
            return lambda: m.backward(bad, pack(s, d_finals))
        new = list(d_finals)
        new[int(target[-1])] = bad
        return lambda: m.backward(d_out, pack(s, new))

    if case == "shape":                                 # (1, N, H), (N, H), (T, 1, H)...: must not broadcast
        bad = np.zeros(data.draw(st.sampled_from(wrong_shapes(good.shape))), dt)
        assert_clear_error(call_with(bad), ValueError, name, shape_str(bad.shape), shape_str(good.shape))
    elif assert_common_rejections(case, data, good, dt, name, call_with,
                                  extra_non_arrays=[None] * (target == "out")):
        pass
    else:
        bad, word = data.draw(st.sampled_from([(d_finals[0], "ndarray"), ((d_finals[0],), "length 1"),
                                               (tuple(d_finals) * 2, "length 4")]))
        assert_clear_error(lambda: m.backward(d_out, bad), TypeError, "(h_n, c_n)", "pair", word)
    for k, g in m.grads.items():                        # a rejected backward accumulates nothing
        assert not g.any(), k


def test_sequence_rejects_empty_sequence_and_batch():
    for m in (sr.RNN(3, 4, seed=0), sr.LSTM(3, 4, batch_first=True, seed=0)):
        for shape in [(0, 2, 3), (2, 0, 3), (0, 3)]:
            assert_clear_error(lambda: m(np.zeros(shape, np.float32)), ValueError,
                               "non-empty", shape_str(shape))


# ---------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------

@st.composite
def cell_setups(draw):
    kind = draw(st.sampled_from(["rnn", "lstm"]))
    I, H, N = draw(st.integers(1, 3)), draw(st.integers(2, 4)), draw(st.integers(2, 3))
    dt = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    seed = draw(st.integers(0, 2**16))
    bias = draw(st.booleans())
    m = sr.LSTMCell(I, H, bias=bias, dtype=dt, seed=seed) if kind == "lstm" else \
        sr.RNNCell(I, H, bias=bias, dtype=dt, seed=seed)
    batched = draw(st.booleans())
    rng = np.random.default_rng(seed)
    x = fill(rng, (N, I) if batched else (I,), dt)
    states = [fill(rng, (N, H) if batched else (H,), dt) for _ in range(2 if kind == "lstm" else 1)]
    names = ("h", "c") if kind == "lstm" else ("hx",)
    return dict(m=m, kind=kind, x=x, states=states, names=names, dt=dt, I=I, H=H, N=N, batched=batched)


@given(s=cell_setups(), data=st.data())
@settings(max_examples=80, **SETTINGS)
def test_cell_forward_rejects_malformed_input(s, data):
    m, x, dt, states, I = s["m"], s["x"], s["dt"], s["states"], s["I"]
    m(x, pack(s, states))
    snap = snapshot(m)
    target = data.draw(st.sampled_from(["x"] + list(s["names"])))
    if target == "x":
        good, name = x, "input"
    else:
        i = s["names"].index(target)
        good, name = states[i], target
    case = data.draw(st.sampled_from(["shape", "dtype", "not_array", "nonfinite"]
                                     + (["empty"] if target == "x" else [])
                                     + (["not_pair"] if s["kind"] == "lstm" else [])))

    def call_with(bad):
        if target == "x":
            return lambda: m(bad, pack(s, states))
        new = list(states)
        new[s["names"].index(target)] = bad
        return lambda: m(x, pack(s, new))

    if case == "shape":
        shapes = wrong_shapes(good.shape)
        if target == "x":                               # (I,) and (N', I) are valid inputs of the other rank
            shapes = [c for c in shapes if not (len(c) in (1, 2) and c[-1] == I)]
        bad = np.zeros(data.draw(st.sampled_from(shapes)), dt)
        want = f"(N, {I})" if target == "x" else shape_str(good.shape)
        if target == "x" and bad.ndim in (1, 2):
            want = f"(N, {I})" if bad.ndim == 2 else f"({I},)"   # checked against the rank it has
        assert_clear_error(call_with(bad), ValueError, name, shape_str(bad.shape), want)
    elif assert_common_rejections(case, data, good, dt, name, call_with):
        pass
    elif case == "empty":
        bad = np.zeros((0, I), dt)
        assert_clear_error(call_with(bad), ValueError, "non-empty", shape_str(bad.shape))
    else:
        bad, word = data.draw(st.sampled_from([(states[0], "ndarray"), ((states[0],), "length 1"),
                                               (tuple(states) * 2, "length 4")]))
        assert_clear_error(lambda: m(x, bad), TypeError, "hx", "pair", word)
    assert_untouched(m, snap)


@given(s=cell_setups(), data=st.data())
@settings(max_examples=60, **SETTINGS)
def test_cell_backward_rejects_malformed_grads(s, data):
    m, dt = s["m"], s["dt"]
    res = m(s["x"], pack(s, s["states"]))
    res = list(res) if s["kind"] == "lstm" else [res]
    rng = np.random.default_rng(1)
    grads = [fill(rng, r.shape, dt) for r in res]
    i = data.draw(st.integers(0, len(grads) - 1))
    name = ("grad of h'", "grad of c'")[i]
    good = grads[i]
    case = data.draw(st.sampled_from(["shape", "dtype", "not_array", "nonfinite"]
                                     + (["not_pair"] if s["kind"] == "lstm" else [])))

    def call_with(bad):
        new = list(grads)
        new[i] = bad
        return lambda: m.backward(pack(s, new))

    if case == "shape":                                 # (1, H) or (H,) for (N, H): must not broadcast
        bad = np.zeros(data.draw(st.sampled_from(wrong_shapes(good.shape))), dt)
        assert_clear_error(call_with(bad), ValueError, name, shape_str(bad.shape), shape_str(good.shape))
    elif assert_common_rejections(case, data, good, dt, name, call_with):
        pass
    else:
        bad, word = data.draw(st.sampled_from([(grads[0], "ndarray"), ((grads[0],), "length 1"),
                                               (tuple(grads) * 2, "length 4")]))
        assert_clear_error(lambda: m.backward(bad), TypeError, "(h', c')", "pair", word)
    for k, g in m.grads.items():
        assert not g.any(), k


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
    as_torch = data.draw(st.booleans())
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
    """The exact wording of a few messages (STYLE.md, habit 9), so that they cannot rot."""
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
