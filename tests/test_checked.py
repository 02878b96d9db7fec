"""``checked=True``: the functional passes skip their own checks, and compute the very same bits.

The models check their input, states and lengths once at their boundary and pass
``checked=True`` to each layer's functional forward and backward, whose own checks were most
of a small call's fixed cost. Skipping them must change nothing in the results, and what the
models pass must be what the checks accept.
"""

import numpy as np
import pytest

import scratchrnn as sr
from scratchrnn import functional as F
from module_cases import CONFIGS, KINDS, close, config_id, make, problem, run
from module_cases import T as T_MODEL

T, N, I, H, P = 6, 3, 4, 5, 3
G = {"rnn": 1, "lstm": 4, "gru": 3}
FORWARDS = {"rnn": F.rnn_forward, "lstm": F.lstm_forward, "gru": F.gru_forward}
BACKWARDS = {"rnn": F.rnn_backward, "lstm": F.lstm_backward, "gru": F.gru_backward}


def layer(kind, rng, dtype, bias=True, project=False):
    """x, the weights (w_ih, w_hh, b_ih, b_hh[, w_hr]) and the initial states of one layer."""
    out = P if project else H
    x = rng.standard_normal((T, N, I)).astype(dtype)
    weights = [rng.uniform(-0.5, 0.5, (G[kind] * H, I)).astype(dtype),
               rng.uniform(-0.5, 0.5, (G[kind] * H, out)).astype(dtype)]
    weights += [rng.uniform(-0.5, 0.5, G[kind] * H).astype(dtype) for _ in range(2)] if bias else [None, None]
    if project:
        weights.append(rng.uniform(-0.5, 0.5, (P, H)).astype(dtype))
    states = [rng.standard_normal((N, out)).astype(dtype)]
    if kind == "lstm":
        states.append(rng.standard_normal((N, H)).astype(dtype))
    return x, weights, states


def run_layer(kind, x, weights, states, lengths, checked, input_grad=True):
    """Forward and backward of one layer -> every array either returns, copied."""
    rng = np.random.default_rng(7)
    *results, cache = FORWARDS[kind](x, *states, *weights, checked=checked,
                                     lengths=None if lengths is None else lengths.copy())
    d_out = rng.standard_normal(results[0].shape).astype(x.dtype)
    d_states = [rng.standard_normal(s.shape).astype(x.dtype) for s in results[1:]]
    if checked:                          # what checked=True promises for a backward
        F.check_unchanged(cache)
    grads = BACKWARDS[kind](d_out, *d_states, cache, checked=checked, input_grad=input_grad)
    return [np.array(a, copy=True) for a in (*results, *(g for g in grads if g is not None))]


LAYERS = [("rnn", {}), ("lstm", {}), ("gru", {}), ("lstm", dict(project=True)), ("gru", dict(bias=False)),
          ("lstm", dict(bias=False, project=True))]
LAYER_IDS = ["rnn", "lstm", "gru", "lstm-projection", "gru-no-bias", "lstm-no-bias-projection"]


@pytest.mark.parametrize("input_grad", [True, False], ids=["dx", "no-dx"])
@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind,options", LAYERS, ids=LAYER_IDS)
def test_one_layer_checked_gives_the_same_bits(kind, options, dtype, padded, input_grad):
    x, weights, states = layer(kind, np.random.default_rng(0), dtype, **options)
    lengths = np.array([T, 2, 4], np.int64) if padded else None
    plain = run_layer(kind, x, weights, states, lengths, checked=False, input_grad=input_grad)
    skipped = run_layer(kind, x, weights, states, lengths, checked=True, input_grad=input_grad)
    assert len(plain) == len(skipped)
    for a, b in zip(plain, skipped):
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("extra", [dict(), dict(bias=False), dict(dropout=0.5, num_layers=2)],
                         ids=["bias", "no-bias", "dropout"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=config_id)
@pytest.mark.parametrize("kind", KINDS)
def test_models_pass_only_what_the_checks_accept(kind, cfg, extra, monkeypatch):
    """The models' calls with ``checked=True``, made again with every functional check on: no
    check objects, and every result is the same to the bit."""
    cfg = {**cfg, **extra}
    expected = run_model(kind, cfg)
    for name, f in [*FORWARDS.items(), *BACKWARDS.items()]:
        fname = f.__name__
        monkeypatch.setattr(F, fname, lambda *a, _f=f, checked=False, **kw: _f(*a, checked=False, **kw))
    close(run_model(kind, cfg), expected, "with every check on", exact=True)


def run_model(kind, cfg):
    rng = np.random.default_rng(3)
    m = make(kind, **cfg)
    m.generator = np.random.default_rng(5)           # the same dropout masks both times
    x, hx, d_out, d_fin = problem(kind, m, rng)
    results = list(run(m, x, hx, d_out, d_fin))
    m.zero_grad()                                    # with lengths (padding after each sequence's end)
    out, fin = m(x, hx, lengths=np.array([T_MODEL, 2, 1]))
    dx, dhx = m.backward(d_out, d_fin)
    results += [out, fin, dx, dhx, {k: v.copy() for k, v in m.grads.items()}]
    x, hx, d_out, d_fin = problem(kind, m, rng, batched=False)   # and unbatched
    return results + list(run(m, x, hx, d_out, d_fin))


def test_lstm_with_projection_passes_only_what_the_checks_accept(monkeypatch):
    m = sr.LSTM(4, 6, proj_size=2, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 4))
    d_out = rng.standard_normal((5, 3, 4))
    expected = run(m, x, None, d_out, None)
    for f in (F.lstm_forward, F.lstm_backward):
        monkeypatch.setattr(F, f.__name__, lambda *a, _f=f, checked=False, **kw: _f(*a, checked=False, **kw))
    close(run(m, x, None, d_out, None), expected, "with every check on", exact=True)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_without_checked_a_bad_argument_is_still_named(kind):
    x, weights, states = layer(kind, np.random.default_rng(0), np.float64)
    with pytest.raises(ValueError, match=r"h0 of shape"):
        FORWARDS[kind](x, states[0][:, :-1], *states[1:], *weights)


@pytest.mark.parametrize("kind,options", LAYERS, ids=LAYER_IDS)
def test_checked_forward_stamps_x_and_the_weights(kind, options):
    """With ``checked=True`` a forward fingerprints x and the weights, not the states it saves
    (the models hand out copies of those): a change to any of the former still raises."""
    x, weights, states = layer(kind, np.random.default_rng(0), np.float64, **options)
    names = ["x", "w_ih", "w_hh"] + (["w_hr"] if options.get("project") else [])
    *_, cache = FORWARDS[kind](x, *states, *weights, checked=True)
    assert sorted(cache.stamps) == sorted(names)
    *_, full = FORWARDS[kind](x, *states, *weights)
    assert sorted(full.stamps) == sorted(names + ["h"] + (["c"] if kind == "lstm" else []))
    arrays = {"x": x, "w_ih": weights[0], "w_hh": weights[1], "w_hr": weights[-1]}
    for name in names:
        *_, cache = FORWARDS[kind](x, *states, *weights, checked=True)
        F.check_unchanged(cache)                     # unchanged: passes
        arrays[name] *= 2
        with pytest.raises(RuntimeError, match=f"{name}, saved by the forward pass, was modified in place"):
            F.check_unchanged(cache)
