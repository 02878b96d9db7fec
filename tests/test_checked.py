"""``checked=True``: the functional passes skip their own checks, and compute the very same bits.

The models check their input, states and lengths once at their boundary and pass
``checked=True`` to each layer's functional forward and backward, whose own checks were most
of a small call's fixed cost. Skipping them must change nothing in the results.
"""

import numpy as np
import pytest

from scratchrnn import functional as F

T, N, I, H = 6, 3, 4, 5
G = {"rnn": 1, "lstm": 4, "gru": 3}


def layer(kind, rng, dtype):
    x = rng.standard_normal((T, N, I)).astype(dtype)
    weights = [rng.uniform(-0.5, 0.5, shape).astype(dtype)
               for shape in [(G[kind] * H, I), (G[kind] * H, H), (G[kind] * H,), (G[kind] * H,)]]
    states = [rng.standard_normal((N, H)).astype(dtype) for _ in range(2 if kind == "lstm" else 1)]
    return x, weights, states


def run(kind, x, weights, states, lengths, checked):
    """Forward and backward of one layer -> every array either returns, copied."""
    rng = np.random.default_rng(7)
    fwd = {"rnn": F.rnn_forward, "lstm": F.lstm_forward, "gru": F.gru_forward}[kind]
    bwd = {"rnn": F.rnn_backward, "lstm": F.lstm_backward, "gru": F.gru_backward}[kind]
    *results, cache = fwd(x, *states, *weights, lengths=None if lengths is None else lengths.copy(),
                          checked=checked)
    d_out = rng.standard_normal(results[0].shape).astype(x.dtype)
    d_states = [rng.standard_normal(s.shape).astype(x.dtype) for s in results[1:]]
    grads = bwd(d_out, *d_states, cache, checked=checked)
    return [np.array(a, copy=True) for a in (*results, *(g for g in grads if g is not None))]


@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_checked_gives_the_same_bits(kind, dtype, padded):
    x, weights, states = layer(kind, np.random.default_rng(0), dtype)
    lengths = np.array([T, 2, 4], np.int64) if padded else None
    plain = run(kind, x, weights, states, lengths, checked=False)
    skipped = run(kind, x, weights, states, lengths, checked=True)
    assert len(plain) == len(skipped)
    for a, b in zip(plain, skipped):
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_without_checked_a_bad_argument_is_still_named(kind):
    x, weights, states = layer(kind, np.random.default_rng(0), np.float64)
    fwd = {"rnn": F.rnn_forward, "lstm": F.lstm_forward, "gru": F.gru_forward}[kind]
    with pytest.raises(ValueError, match=r"h0 of shape"):
        fwd(x, states[0][:, :-1], *states[1:], *weights)
