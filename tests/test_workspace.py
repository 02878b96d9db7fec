"""Memory kept from call to call (scratchrnn.workspace): same numbers, nothing the caller keeps
is overwritten, a stale cache is refused, and a training loop reuses the same arrays."""

import numpy as np
import pytest

import scratchrnn as sr
from scratchrnn import functional as F
from scratchrnn.workspace import CACHE_LINE, Workspace, empty_aligned, take
from module_cases import CONFIGS, KINDS, config_id, make

T, N, I, H = 5, 3, 4, 6


def _problem(seed, G, P=None):
    rng = np.random.default_rng(seed)
    P = P or H
    return dict(x=rng.standard_normal((T, N, I)), h0=rng.standard_normal((N, P)),
                c0=rng.standard_normal((N, H)), w_ih=rng.standard_normal((G * H, I)),
                w_hh=rng.standard_normal((G * H, P)), b_ih=rng.standard_normal(G * H),
                b_hh=rng.standard_normal(G * H), d_out=rng.standard_normal((T, N, P)),
                d_h=rng.standard_normal((N, P)), d_c=rng.standard_normal((N, H)),
                w_hr=rng.standard_normal((P, H)))


def _forward(kind, p, workspace, lengths=None, proj=False):
    if kind == "lstm":
        out, h_n, c_n, cache = F.lstm_forward(p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"],
                                              p["b_hh"], w_hr=p["w_hr"] if proj else None,
                                              lengths=lengths, workspace=workspace)
        return (out, h_n, c_n), cache
    if kind == "gru":
        out, h_n, cache = F.gru_forward(p["x"], p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                        lengths=lengths, workspace=workspace)
        return (out, h_n), cache
    out, h_n, cache = F.rnn_forward(p["x"], p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                    nonlinearity=kind, lengths=lengths, workspace=workspace)
    return (out, h_n), cache


def _backward(kind, p, cache):
    if kind == "lstm":
        return F.lstm_backward(p["d_out"], p["d_h"], p["d_c"], cache)
    if kind == "gru":
        return F.gru_backward(p["d_out"], p["d_h"], cache)
    return F.rnn_backward(p["d_out"], p["d_h"], cache)


CASES = [("tanh", False), ("relu", False), ("lstm", False), ("lstm", True), ("gru", False)]


@pytest.mark.parametrize("kind,proj", CASES)
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]])
def test_functional_with_a_workspace_gives_the_same_bits(kind, proj, lengths):
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    p = _problem(0, G, P=3 if proj else None)
    ws = Workspace()
    for call in range(2):                          # the second call runs in reused memory
        outs, cache = _forward(kind, p, ws, lengths, proj)
        outs = [o.copy() for o in outs]
        grads = _backward(kind, p, cache)
        fresh_outs, fresh_cache = _forward(kind, p, None, lengths, proj)
        fresh_grads = _backward(kind, p, fresh_cache)
        for a, b in zip(outs, fresh_outs):
            np.testing.assert_array_equal(a, b)
        for name, a, b in zip(grads._fields, grads, fresh_grads):
            if b is None:
                assert a is None, name
            else:
                np.testing.assert_array_equal(a, b, err_msg=name)
    assert ws.forwards == 2 and ws.nbytes > 0


@pytest.mark.parametrize("kind,proj", CASES)
def test_backward_of_a_cache_whose_workspace_was_reused_raises(kind, proj):
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    p = _problem(1, G, P=3 if proj else None)
    ws = Workspace()
    _, first = _forward(kind, p, ws, proj=proj)
    _, second = _forward(kind, p, ws, proj=proj)
    with pytest.raises(RuntimeError, match="workspace was reused by a later forward"):
        _backward(kind, p, first)
    with pytest.raises(RuntimeError, match="workspace was reused"):
        F.check_unchanged(first)
    _backward(kind, p, second)                     # the latest one is fine


def test_a_workspace_reallocates_when_shape_or_dtype_change():
    ws = Workspace()
    a = ws.take("h", (3, 2), np.float32)
    assert ws.take("h", (3, 2), np.float32) is a
    b = ws.take("h", (4, 2), np.float32)
    assert b is not a and b.shape == (4, 2)
    c = ws.take("h", (4, 2), np.float64)
    assert c is not b and c.dtype == np.float64 and ws.nbytes == c.nbytes


@pytest.mark.parametrize("shape", [(3, 2), (128, 512), (4, 128, 32), (0, 5), 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_every_array_handed_out_starts_on_a_cache_line(shape, dtype):
    ws = Workspace()
    for a in (ws.take("a", shape, dtype), take(None, "a", shape, dtype), empty_aligned(shape, dtype)):
        like = np.empty(shape, dtype)
        assert a.shape == like.shape and a.dtype == like.dtype
        assert a.flags.c_contiguous and a.flags.writeable
        assert a.size == 0 or a.ctypes.data % CACHE_LINE == 0      # an empty array has no data to place
        a[...] = 1                                                  # all of it is memory of its own
        assert a.sum() == a.size


def test_a_models_workspaces_hold_arrays_on_cache_lines():
    m = make("lstm", num_layers=2, bidirectional=True)
    out, _ = m(np.random.default_rng(4).standard_normal((T, N, I)))
    m.backward(out)
    starts = [a.ctypes.data % CACHE_LINE for ws in m.workspaces.values() for a in ws.arrays().values() if a.size]
    assert len(starts) > 8 and not any(starts)

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cfg", CONFIGS, ids=config_id)
def test_module_results_kept_by_the_caller_survive_the_next_call(kind, cfg):
    m = make(kind, **cfg)
    rng = np.random.default_rng(2)
    shape = (N, T, I) if cfg.get("batch_first") else (T, N, I)
    x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
    out1, s1 = m(x1)
    kept = (out1.copy(), [s.copy() for s in (s1 if isinstance(s1, tuple) else (s1,))])
    dx1, _ = m.backward(np.ones_like(out1))
    dx1_kept = dx1.copy()
    out2, _ = m(x2)                                # reuses the workspaces of the first call
    dx2, _ = m.backward(np.full_like(out2, 0.5))
    np.testing.assert_array_equal(out1, kept[0])
    for s, k in zip(s1 if isinstance(s1, tuple) else (s1,), kept[1]):
        np.testing.assert_array_equal(s, k)
    np.testing.assert_array_equal(dx1, dx1_kept)
    assert not np.shares_memory(out1, out2) and not np.shares_memory(dx1, dx2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_training_loop_reuses_the_same_arrays_after_its_first_step(kind):
    m = make(kind, num_layers=2, bidirectional=True)
    x = np.random.default_rng(3).standard_normal((T, N, I))

    def step():
        out, _ = m(x)
        m.backward(out)                            # d(½‖out‖²)/d out
        return {key: {name: a.__array_interface__["data"][0] for name, a in ws.arrays().items()}
                for key, ws in m.workspaces.items()}

    first = step()
    assert len(first) == 4 and all(first.values())
    assert step() == first and step() == first     # the same memory, step after step


@pytest.mark.parametrize("kind", KINDS)
def test_reuse_memory_off_gives_the_same_bits_and_keeps_no_workspace(kind):
    a, b = make(kind, num_layers=2), make(kind, num_layers=2)
    b.reuse_memory = False
    x = np.random.default_rng(4).standard_normal((T, N, I))
    for _ in range(2):
        out_a, _ = a(x)
        out_b, _ = b(x)
        np.testing.assert_array_equal(out_a, out_b)
        np.testing.assert_array_equal(a.backward(out_a)[0], b.backward(out_b)[0])
    for name in a.grads:
        np.testing.assert_array_equal(a.grads[name], b.grads[name])
    assert a.workspaces and not b.workspaces
