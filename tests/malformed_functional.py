"""Malformed arguments for ``scratchrnn.functional``, run in a child process by test_malformed.py.

The functional layer hands its arrays to Numba kernels that do not check bounds, so a missing
check there is a segfault or a silent out-of-bounds write, not an exception: a crash must fail
one test, not kill the whole pytest run. ``main()`` runs the table and the hypothesis search
below and exits 0 only when every call gave a clear error or a correct result.
"""

import faulthandler
import os
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchrnn import functional as F
from validation_helpers import assert_clear_error, wrong_shapes

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
ORDER = {"rnn": ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"],
         "gru": ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"],
         "lstm": ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr"]}


def good_args(kind, T=3, N=2, I=4, H=5, P=None, dtype=np.float64, seed=0):
    """A valid argument dict for ``{kind}_forward``; P (LSTM only) adds a projection."""
    rng = np.random.default_rng(seed)
    G = GATES[kind]
    Hout = P or H
    r = lambda *shape: rng.uniform(-0.5, 0.5, shape).astype(dtype)   # noqa: E731
    a = dict(x=r(T, N, I), h0=r(N, Hout), w_ih=r(G * H, I), w_hh=r(G * H, Hout), b_ih=r(G * H), b_hh=r(G * H))
    if kind == "lstm":
        a["c0"] = r(N, H)
        a["w_hr"] = r(P, H) if P else None
    return a


def forward(kind, args, **kw):
    fn = getattr(F, f"{kind}_forward")
    return fn(*[args[k] for k in ORDER[kind]], **kw)


def backward(kind, res, d_out, d_states):
    fn = getattr(F, f"{kind}_backward")
    return fn(d_out, *d_states, res[-1])


def upstream(kind, res, seed=1):
    rng = np.random.default_rng(seed)
    arrays = res[:-1]                                  # out, h_n[, c_n]
    return [rng.standard_normal(a.shape).astype(a.dtype) for a in arrays]


# ---------------------------------------------------------------- the table (exact messages)

def table_cases():
    """(label, call, kind, needles): each must raise exactly ``kind`` with every needle."""
    cases = []
    a = good_args("rnn")
    small = dict(a, w_hh=a["w_hh"][:2, :2])              # w_hh smaller than w_ih implies: used to segfault
    cases.append(("rnn small w_hh", lambda: forward("rnn", small), ValueError, ["w_hh", "(5, 5)", "(2, 2)"]))
    big = dict(a, w_hh=np.zeros((9, 9)))
    cases.append(("rnn big w_hh", lambda: forward("rnn", big), ValueError, ["w_hh", "(9, 9)"]))
    cases.append(("rnn h0 wide", lambda: forward("rnn", dict(a, h0=np.zeros((2, 9)))), ValueError, ["h0", "(2, 9)"]))
    cases.append(("rnn one bias", lambda: forward("rnn", dict(a, b_hh=None)), ValueError, ["b_ih only"]))
    cases.append(("rnn bias long", lambda: forward("rnn", dict(a, b_ih=np.zeros(7))), ValueError, ["b_ih", "(7,)"]))
    cases.append(("rnn sigmoid", lambda: forward("rnn", a, nonlinearity="sigmoid"), ValueError,
                  ["nonlinearity", "'sigmoid'"]))
    for bad, word in [([0, 3], "got 0"), ([3, 4], "got 4"), ([-1, 2], "got -1"), ([2**40, 1], str(2**40))]:
        cases.append((f"rnn lengths {bad}", lambda bad=bad: forward("rnn", a, lengths=np.array(bad)), ValueError,
                      ["lengths", "1..3", word]))
    cases.append(("rnn lengths float", lambda: forward("rnn", a, lengths=np.array([2.0, 3.0])), TypeError,
                  ["integer lengths", "float64"]))
    cases.append(("rnn lengths N+1", lambda: forward("rnn", a, lengths=np.array([3, 3, 3])), ValueError,
                  ["lengths", "(2,)", "(3,)"]))
    cases.append(("rnn x int", lambda: forward("rnn", dict(a, x=a["x"].astype(np.int64))), TypeError, ["x", "int64"]))
    cases.append(("rnn mixed dtype", lambda: forward("rnn", dict(a, w_hh=a["w_hh"].astype(np.float32))),
                  TypeError, ["w_hh", "float64", "float32"]))
    cases.append(("rnn x list", lambda: forward("rnn", dict(a, x=a["x"].tolist())), TypeError,
                  ["x", "numpy.ndarray", "list"]))
    cases.append(("rnn x 2-D", lambda: forward("rnn", dict(a, x=a["x"][0])), ValueError, ["x", "(T, N, I)", "(2, 4)"]))
    cases.append(("rnn empty T", lambda: forward("rnn", dict(a, x=a["x"][:0])), ValueError, ["x", "(0, 2, 4)"]))
    l = good_args("lstm", P=3)
    cases.append(("lstm w_hr wrong H", lambda: forward("lstm", dict(l, w_hr=np.zeros((3, 4)))), ValueError,
                  ["w_hr", "(P, 5)", "(3, 4)"]))
    cases.append(("lstm no w_hr", lambda: forward("lstm", dict(l, w_hr=None)), ValueError,
                  ["w_hh", "(20, 5)", "(20, 3)"]))
    cases.append(("lstm c0 as h0", lambda: forward("lstm", dict(l, c0=l["h0"])), ValueError,
                  ["c0", "(2, 5)", "(2, 3)"]))
    g = good_args("gru")
    cases.append(("gru rnn-sized w_ih", lambda: forward("gru", dict(g, w_ih=g["w_ih"][:5])), ValueError,
                  ["w_ih", "(3·H, 4)", "(5, 4)"]))
    # backward: wrong grads, a foreign cache, arrays changed in place since the forward
    res = forward("rnn", a)
    d_out, d_h = upstream("rnn", res)
    cases.append(("rnn_backward d_out short", lambda: backward("rnn", res, d_out[:1], [d_h]), ValueError,
                  ["d_out", "(3, 2, 5)", "(1, 2, 5)"]))
    cases.append(("rnn_backward d_h_n bcast", lambda: backward("rnn", res, d_out, [d_h[:1]]), ValueError,
                  ["d_h_n", "(1, 5)"]))
    cases.append(("rnn_backward dtype", lambda: backward("rnn", res, d_out.astype(np.float32), [d_h]), TypeError,
                  ["d_out", "float32"]))
    lres = forward("lstm", l)
    cases.append(("rnn_backward lstm cache", lambda: F.rnn_backward(d_out, d_h, lres[-1]), TypeError,
                  ["RNNCache", "LSTMCache"]))
    cases.append(("gru_backward tuple", lambda: F.gru_backward(d_out, d_h, tuple(res[-1])), TypeError,
                  ["GRUCache", "tuple"]))
    for name in ("x", "w_ih", "w_hh", "h"):
        def changed(name=name):
            b = {k: (v.copy() if v is not None else None) for k, v in a.items()}
            r = forward("rnn", b)
            target = r[-1].h if name == "h" else b[name]
            target *= 2                                # an optimizer step, a scaled input, a scribbled output
            return backward("rnn", r, d_out, [d_h])
        cases.append((f"rnn_backward after {name} changed", changed, RuntimeError, [name, "modified in place"]))
    return cases


def run_table():
    for label, call, kind, needles in table_cases():
        print("case:", label, flush=True)              # the last line printed names a crashing case
        assert_clear_error(call, kind, *needles)


# ---------------------------------------------------------------- hypothesis: one malformation at a time

@st.composite
def setups(draw):
    kind = draw(st.sampled_from(sorted(GATES)))
    T, N, I, H = (draw(st.integers(1, 4)) for _ in range(4))
    P = draw(st.sampled_from([None, 1, 2])) if kind == "lstm" else None
    P = P if P is None or P < H else None
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    args = good_args(kind, T, N, I, H, P, dtype, seed=draw(st.integers(0, 99)))
    if not draw(st.booleans()):
        args["b_ih"] = args["b_hh"] = None
    return kind, args


def _close(a, b):
    for u, v in zip(a, b):
        if isinstance(u, np.ndarray):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)   # float32 BLAS may sum in another order


@given(s=setups(), data=st.data())
def fuzz_forward(s, data):
    kind, args = s
    ref = forward(kind, args)
    names = [k for k in ORDER[kind] if args[k] is not None]
    name = data.draw(st.sampled_from(names))
    good = args[name]
    case = data.draw(st.sampled_from(["shape", "dtype", "not_array", "noncontiguous", "nonfinite"]))
    if case == "shape":
        shapes = wrong_shapes(good.shape)
        if name == "x":                                # another T is a valid x: the sequence length is free
            shapes = [c for c in shapes if not (len(c) == 3 and c[1:] == good.shape[1:])]
        bad = np.zeros(data.draw(st.sampled_from(shapes)), good.dtype)
        assert_clear_error(lambda: forward(kind, dict(args, **{name: bad})), ValueError)
    elif case == "dtype":
        dt = data.draw(st.sampled_from([np.float16, np.int32, np.int64, np.bool_, np.complex128, np.dtype(">f8")]))
        bad = good.astype(dt)
        assert_clear_error(lambda: forward(kind, dict(args, **{name: bad})), TypeError, name)
    elif case == "not_array":
        bad = data.draw(st.sampled_from([good.tolist(), 1.0, "x"]))
        assert_clear_error(lambda: forward(kind, dict(args, **{name: bad})), TypeError, name, "numpy.ndarray")
    elif case == "noncontiguous":                      # a valid input: the same result as the contiguous one
        wide = np.repeat(good[..., None], 2, axis=-1)  # (..., 2): every other element is the original
        view = wide[..., 0]
        assert not view.flags.c_contiguous or view.size <= 1
        _close(forward(kind, dict(args, **{name: view}))[:-1], ref[:-1])
    else:                                              # values are not checked: NaN flows through, no crash
        bad = good.copy()
        bad.flat[data.draw(st.integers(0, good.size - 1))] = np.nan
        out = forward(kind, dict(args, **{name: bad}))
        assert all(isinstance(o, np.ndarray) for o in out[:-1])


@given(s=setups(), data=st.data())
def fuzz_backward(s, data):
    kind, args = s
    res = forward(kind, args)
    ups = upstream(kind, res)
    i = data.draw(st.integers(0, len(ups) - 1))
    names = ["d_out", "d_h_n", "d_c_n"]
    case = data.draw(st.sampled_from(["shape", "dtype", "not_array", "noncontiguous"]))

    def call(bad):
        new = list(ups)
        new[i] = bad
        return lambda: backward(kind, res, new[0], new[1:])

    good = ups[i]
    if case == "shape":
        bad = np.zeros(data.draw(st.sampled_from(wrong_shapes(good.shape))), good.dtype)
        assert_clear_error(call(bad), ValueError, names[i])
    elif case == "dtype":
        assert_clear_error(call(good.astype(np.float16)), TypeError, names[i], "float16")
    elif case == "not_array":
        assert_clear_error(call(good.tolist()), TypeError, names[i], "list")
    else:
        view = np.repeat(good[..., None], 2, axis=-1)[..., 1]
        _close(call(view)(), backward(kind, res, ups[0], ups[1:]))


def main():
    faulthandler.enable()                              # a segfault prints the Python stack first
    examples = int(os.environ.get("MALFORMED_EXAMPLES", "60"))
    opts = dict(max_examples=examples, deadline=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.too_slow], database=None)
    run_table()
    print("case: hypothesis forward", flush=True)
    settings(**opts)(fuzz_forward)()
    print("case: hypothesis backward", flush=True)
    settings(**opts)(fuzz_backward)()
    print("all clear", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
