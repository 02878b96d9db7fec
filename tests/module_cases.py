"""Shared cases for the module tests (test_modules_*.py): models, random problems, comparisons.

Exactness checks run in float64 with ``F64_LAYOUT`` (tolerances.py): the same operations on
the same numbers, only BLAS's summation order may differ with the layout.
"""

import numpy as np

import scratchrnn as sr
from tolerances import F64_LAYOUT

T, N, I, H = 5, 3, 4, 6  # time, batch, input features, hidden
KINDS = ["tanh", "relu", "lstm", "gru"]
CONFIGS = [dict(), dict(bidirectional=True), dict(num_layers=2), dict(batch_first=True),
           dict(num_layers=2, bidirectional=True, batch_first=True)]


def config_id(cfg):
    return "-".join(cfg) or "plain"


def close(actual, expected, what="", exact=False):
    """Recursive allclose (or bit-for-bit equality) over arrays, tuples and dicts of grads."""
    if isinstance(expected, dict):
        assert list(actual) == list(expected), what
        for k in expected:
            close(actual[k], expected[k], f"{what}[{k}]", exact)
    elif isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected), what
        for i, (a, e) in enumerate(zip(actual, expected)):
            close(a, e, f"{what}[{i}]", exact)
    else:
        assert actual.shape == expected.shape, f"{what}: {actual.shape} != {expected.shape}"
        assert actual.dtype == expected.dtype, f"{what}: {actual.dtype} != {expected.dtype}"
        if exact:
            np.testing.assert_array_equal(actual, expected, err_msg=what)
        else:
            np.testing.assert_allclose(actual, expected, **F64_LAYOUT, err_msg=what)


def make(kind, **kw):
    """A float64 scratchrnn model of ``kind`` (tanh, relu, lstm, gru), seed 0, input and hidden
    sizes I and H unless given."""
    kw.setdefault("dtype", np.float64)
    kw.setdefault("seed", 0)
    I_, H_ = kw.pop("input_size", I), kw.pop("hidden_size", H)
    if kind == "lstm":
        return sr.LSTM(I_, H_, **kw)
    if kind == "gru":
        return sr.GRU(I_, H_, **kw)
    return sr.RNN(I_, H_, nonlinearity=kind, **kw)


def torch_twin(torch, kind, **kw):
    """The torch module of the same kind (its own random weights)."""
    if kind == "lstm":
        return torch.nn.LSTM(I, H, **kw)
    if kind == "gru":
        return torch.nn.GRU(I, H, **kw)
    return torch.nn.RNN(I, H, nonlinearity=kind, **kw)


def states(kind, rng, shape, dtype=np.float64):
    """Distinct random h0 (and c0): RNN -> array, LSTM -> pair."""
    s = tuple(rng.standard_normal(shape).astype(dtype) for _ in range(2 if kind == "lstm" else 1))
    return s if kind == "lstm" else s[0]


def run(m, x, hx, d_out, d_fin, lengths=None):
    """Fresh grads, one forward and one backward -> (out, finals, dx, d_hx, grads copy)."""
    m.zero_grad()
    out, fin = m(x, hx, lengths=lengths)
    dx, dhx = m.backward(d_out, d_fin)
    return out, fin, dx, dhx, {k: v.copy() for k, v in m.grads.items()}


def problem(kind, m, rng, batched=True, dtype=np.float64):
    """Random x, hx, upstream grads for ``m`` (time-major unless m.batch_first)."""
    LD = m.num_layers * m.num_directions
    if batched:
        x = rng.standard_normal((N, T, m.input_size) if m.batch_first else (T, N, m.input_size))
        out_shape = x.shape[:2] + (m.num_directions * H,)
        sshape = (LD, N, H)
    else:
        x = rng.standard_normal((T, m.input_size))
        out_shape, sshape = (T, m.num_directions * H), (LD, H)
    hx = states(kind, rng, sshape, dtype)
    d_out = rng.standard_normal(out_shape).astype(dtype)
    d_fin = states(kind, rng, sshape, dtype)
    return x.astype(dtype), hx, d_out, d_fin


def cached_arrays(obj):
    """Every ndarray reachable from a module's cache (named tuples, lists, tuples)."""
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from cached_arrays(o)
