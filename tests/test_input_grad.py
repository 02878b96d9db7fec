"""``backward(..., input_grad=False)``: the first layer's dx is left out, and nothing else changes.

The input gradient is one product, ``da W_ih`` over all T·N rows, that no other gradient reads;
leaving it out must give the very same bits for every other result, in a serial pass and in a
pass in row blocks.
"""

import numpy as np
import pytest

import scratchrnn as sr
from scratchrnn import functional as F, layout
from module_cases import CONFIGS, KINDS, close, config_id, make, problem


def both_ways(m, x, hx, d_out, d_fin):
    """(dx, d_hx, grads) with the input gradient, then (dx, d_hx, grads) without it."""
    results = []
    for input_grad in (True, False):
        m.zero_grad()
        m(x, hx)
        dx, d_hx = m.backward(d_out, d_fin, input_grad=input_grad)
        results.append((dx, d_hx, {k: v.copy() for k, v in m.grads.items()}))
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=config_id)
@pytest.mark.parametrize("kind", KINDS)
def test_without_input_grad_dx_is_none_and_the_rest_is_bit_for_bit(kind, cfg, batched, dtype):
    m = make(kind, dtype=dtype, **cfg)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(1), batched, dtype)
    (dx, d_hx, grads), (no_dx, d_hx2, grads2) = both_ways(m, x, hx, d_out, d_fin)
    assert dx.shape == x.shape and no_dx is None
    close(d_hx2, d_hx, "initial-state grads", exact=True)
    close(grads2, grads, "grads", exact=True)


@pytest.mark.parametrize("kind", KINDS)
def test_without_input_grad_in_row_blocks(kind, two_threads):
    """Enough work for the passes to run in row blocks on two threads (checked, not assumed)."""
    T, N, I, H = 32, 32, 16, 64                      # 16 rows per thread: blocks on any BLAS
    model = {"lstm": sr.LSTM, "gru": sr.GRU}.get(kind)
    m = (model(I, H, dtype=np.float32, seed=0) if model
         else sr.RNN(I, H, nonlinearity=kind, dtype=np.float32, seed=0))
    rng = np.random.default_rng(2)
    w_hh = dict(m.named_parameters())["weight_hh_l0"]
    assert layout.blocks(T, N, w_hh) > 1, "this case no longer runs in blocks: pick a bigger one"
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    d_out = rng.standard_normal((T, N, H)).astype(np.float32)
    (dx, d_hx, grads), (no_dx, d_hx2, grads2) = both_ways(m, x, None, d_out, None)
    assert dx.shape == x.shape and no_dx is None
    close(d_hx2, d_hx, "initial-state grads", exact=True)
    close(grads2, grads, "grads", exact=True)


@pytest.mark.parametrize("kind, extra", [("lstm", dict(proj_size=3)), ("gru", {}), ("tanh", {})])
def test_without_input_grad_with_lengths_and_projection(kind, extra):
    """Variable lengths in a 2-layer bidirectional stack (and the LSTM's projection)."""
    m = make(kind, num_layers=2, bidirectional=True, **extra)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3, m.input_size))
    d_out = rng.standard_normal((5, 3, 2 * (extra.get("proj_size") or m.hidden_size)))
    results = []
    for input_grad in (True, False):
        m.zero_grad()
        m(x, lengths=[5, 2, 4])
        dx, d_hx = m.backward(d_out, input_grad=input_grad)
        results.append((dx, d_hx, {k: v.copy() for k, v in m.grads.items()}))
    (dx, d_hx, grads), (no_dx, d_hx2, grads2) = results
    assert dx.shape == x.shape and no_dx is None
    close(d_hx2, d_hx, "initial-state grads", exact=True)
    close(grads2, grads, "grads", exact=True)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_functional_backward_without_input_grad(name):
    rng = np.random.default_rng(3)
    T, N, I, H = 4, 3, 5, 2
    G = {"rnn": 1, "lstm": 4, "gru": 3}[name]
    x, h0 = rng.standard_normal((T, N, I)), rng.standard_normal((N, H))
    w_ih, w_hh = rng.standard_normal((G * H, I)), rng.standard_normal((G * H, H))
    d_out, d_h_n = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    forward, backward = getattr(F, f"{name}_forward"), getattr(F, f"{name}_backward")
    lstm = name == "lstm"
    states, d_states = ((h0, h0 + 1), (d_h_n, d_h_n - 1)) if lstm else ((h0,), (d_h_n,))
    cache = forward(x, *states, w_ih, w_hh)[-1]
    full = backward(d_out, *d_states, cache)
    part = backward(d_out, *d_states, cache, input_grad=False)
    assert full.dx.shape == x.shape and part.dx is None
    for field in full._fields:
        if field != "dx" and getattr(full, field) is not None:
            np.testing.assert_array_equal(getattr(part, field), getattr(full, field), err_msg=field)
