"""Bad input gets a clear ValueError/TypeError that says what was expected and what came.

Hypothesis drives the models' and cells' entry points (RNN/LSTM/GRU forward and backward;
``load_state_dict`` is in test_validation_state.py) with one malformation at a time and asserts that

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

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchrnn as sr
from validation_helpers import (SETTINGS, assert_clear_error, assert_common_rejections, assert_untouched, fill,
                                pack, shape_str, snapshot, wrong_shapes)


# ---------------------------------------------------------------------------
# sequence modules
# ---------------------------------------------------------------------------

@st.composite
def seq_setups(draw):
    """A small module of random configuration, its good input and initial state."""
    kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    L = draw(st.integers(1, 2))
    cfg = dict(num_layers=L, bidirectional=draw(st.booleans()), batch_first=draw(st.booleans()),
               bias=draw(st.booleans()), dtype=draw(st.sampled_from([np.float32, np.float64])),
               dropout=draw(st.sampled_from([0.0, 0.5])) if L > 1 else 0.0)
    I, H = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    T, N = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    batched = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    m = {"rnn": sr.RNN, "lstm": sr.LSTM, "gru": sr.GRU}[kind](I, H, seed=seed, **cfg)
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
    kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    I, H, N = draw(st.integers(1, 3)), draw(st.integers(2, 4)), draw(st.integers(2, 3))
    dt = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    seed = draw(st.integers(0, 2**16))
    bias = draw(st.booleans())
    m = {"rnn": sr.RNNCell, "lstm": sr.LSTMCell, "gru": sr.GRUCell}[kind](I, H, bias=bias, dtype=dt, seed=seed)
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


@pytest.mark.parametrize("jit", [True, False], ids=["compiled-scan", "numpy-sum"])
def test_all_finite_is_exact_when_the_sum_overflows_or_cancels(jit, monkeypatch):
    """``checks.all_finite`` is exact on both of its paths: the compiled scan, and the NumPy sum
    (non-contiguous arrays, and everything with ``NUMBA_DISABLE_JIT=1``), which takes a finite
    sum as proof and checks every value otherwise."""
    import numba
    from scratchrnn import checks
    if not jit:
        monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    big = np.full(8, 3e38, np.float32)                  # all finite; their sum overflows to inf
    assert checks.all_finite(big) and checks.all_finite(np.empty(0, np.float32))
    for bad in (np.nan, np.inf, -np.inf):
        a = np.ones((3, 5))
        a[2, 4] = bad
        assert not checks.all_finite(a)
    both = np.array([np.inf, -np.inf, 1.0])             # +inf and -inf: a NaN sum, still caught
    assert not checks.all_finite(both)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # the check itself warns of nothing
        assert checks.all_finite(big) and not checks.all_finite(both)
    with pytest.raises(ValueError, match=r"x contains NaN at index \(1, 0\)"):
        checks.finite("x", np.array([[1.0], [np.nan]]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_finds_a_bad_value_in_every_block_of_a_large_array(dtype, monkeypatch):
    """Arrays of twice ``BLOCK_MIN_BYTES`` or more are scanned in blocks on Numba's threads: a NaN
    or an inf at either end of each block, and in the last value, is found, whatever the threads."""
    import numba
    from scratchrnn import checks
    from scratchrnn.kernels import finite
    n = 2 * finite.BLOCK_MIN_BYTES // np.dtype(dtype).itemsize + 3   # not a multiple of the blocks
    a = np.zeros(n, dtype)
    MiB = finite.BLOCK_MIN_BYTES
    with monkeypatch.context() as m:                      # 16 threads: blocks of 1 MiB at least, one per thread
        m.setattr(finite.numba, "get_num_threads", lambda: 16)
        assert [finite.scan_blocks(b) for b in (2 * MiB - 1, 2 * MiB, a.nbytes, 7 * MiB // 2, 40 * MiB)] == \
            [1, 2, 2, 3, 16]
    assert finite.scan_blocks(a.nbytes) == min(numba.get_num_threads(), 2)
    for nblocks in (2, 3):
        monkeypatch.setattr(checks, "scan_blocks", lambda nbytes: nblocks)   # where all_finite looks
        assert checks.all_finite(a)
        for k in range(nblocks):
            for i in {n * k // nblocks, n * (k + 1) // nblocks - 1}:          # a block's first and last
                for bad in (np.nan, -np.inf):
                    a[i] = bad
                    assert not checks.all_finite(a), (nblocks, k, i, bad)
                    a[i] = 0
        assert checks.all_finite(a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_compiled_scan_agrees_with_numpy_on_every_kind_of_value(dtype):
    """The compiled scan of the exponent bits (C-contiguous arrays) and the NumPy path (any other
    layout) give NumPy's own answer: NaNs of any payload and sign and ±inf are caught, and the
    largest finite value, subnormals and ±0 are not mistaken for them."""
    from scratchrnn import checks
    info = np.finfo(dtype)
    all_ones = np.array([-1], np.int32 if dtype == np.float32 else np.int64).view(dtype)   # a NaN, every bit set
    specials = np.concatenate([np.array([np.nan, -np.nan, np.inf, -np.inf], dtype), all_ones])
    ordinary = np.array([info.max, -info.max, info.tiny, info.smallest_subnormal, 0.0, -0.0, 1.0], dtype)
    rng = np.random.default_rng(0)
    for trial in range(300):              # sizes from 2: a (1, n) array is contiguous both ways
        a = rng.choice(ordinary, size=(rng.integers(2, 40), rng.integers(2, 40))).astype(dtype)
        if trial % 2:
            a.flat[rng.integers(a.size)] = rng.choice(specials)
        expected = bool(np.isfinite(a).all())
        assert checks.all_finite(a) == expected                      # C order: the compiled scan
        assert not np.asfortranarray(a).flags.c_contiguous
        assert checks.all_finite(np.asfortranarray(a)) == expected   # the NumPy path
        assert checks.all_finite(a.T) == expected
