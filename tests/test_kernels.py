"""The functional pairs and their Numba kernels.

CI runs this file twice: jitted, and again with ``NUMBA_DISABLE_JIT=1`` so the
very same kernel lines run as plain Python (``-m kernel``).
"""

import os

import numpy as np
import pytest

from scratchrnn import functional as F
from scratchrnn import gradcheck, kernels
from tolerances import F64_TORCH, GRADCHECK, product_bound

pytestmark = pytest.mark.kernel
JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")


def _problem(kind, dtype=np.float64, T=5, N=3, I=4, H=6, seed=0):
    """Random inputs, distinct non-zero biases and distinct h0/c0 for one layer."""
    rng = np.random.default_rng(seed)
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    p = dict(x=rng.standard_normal((T, N, I)), h0=rng.standard_normal((N, H)),
             w_ih=rng.standard_normal((G * H, I)) * 0.5, w_hh=rng.standard_normal((G * H, H)) * 0.5,
             b_ih=rng.standard_normal(G * H), b_hh=rng.standard_normal(G * H))
    if kind == "lstm":
        p["c0"] = rng.standard_normal((N, H))
    return {k: v.astype(dtype) for k, v in p.items()}


def _fn(kind):
    """``fn(**inputs) -> (outputs, vjp)`` for sr.gradcheck, over every input of the layer."""
    if kind == "lstm":
        def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
            out, h_n, c_n, cache = F.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)

            def vjp(d):
                g = F.lstm_backward(d[0], d[1], d[2], cache)
                return dict(x=g.dx, h0=g.dh0, c0=g.dc0, w_ih=g.dw_ih, w_hh=g.dw_hh,
                            b_ih=g.db_ih, b_hh=g.db_hh)
            return (out, h_n, c_n), vjp
    elif kind == "gru":
        def fn(x, h0, w_ih, w_hh, b_ih, b_hh):
            out, h_n, cache = F.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh)

            def vjp(d):
                g = F.gru_backward(d[0], d[1], cache)
                return dict(x=g.dx, h0=g.dh0, w_ih=g.dw_ih, w_hh=g.dw_hh, b_ih=g.db_ih, b_hh=g.db_hh)
            return (out, h_n), vjp
    else:
        def fn(x, h0, w_ih, w_hh, b_ih, b_hh):
            out, h_n, cache = F.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=kind)

            def vjp(d):
                g = F.rnn_backward(d[0], d[1], cache)
                return dict(x=g.dx, h0=g.dh0, w_ih=g.dw_ih, w_hh=g.dw_hh, b_ih=g.db_ih, b_hh=g.db_hh)
            return (out, h_n), vjp
    return fn


@pytest.mark.parametrize("kind", ["tanh", "relu", "lstm", "gru"])
def test_gradcheck_functional(kind):
    """Every gradient of the one-layer pair against float64 central differences."""
    inputs = _problem(kind)
    report = gradcheck(_fn(kind), inputs)
    assert set(report) == set(inputs)
    assert max(report.values()) < GRADCHECK


@pytest.mark.parametrize("kind", ["tanh", "relu", "lstm", "gru"])
def test_matches_torch_functional(torch, kind):
    """One layer, one direction, against torch float64 (F64_TORCH)."""
    p = _problem(kind)
    H = p["h0"].shape[1]
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(kind, torch.nn.RNN)
    kw = {} if kind in ("lstm", "gru") else {"nonlinearity": kind}
    tm = cls(p["x"].shape[2], H, dtype=torch.float64, **kw)
    tm.load_state_dict({"weight_ih_l0": torch.tensor(p["w_ih"]), "weight_hh_l0": torch.tensor(p["w_hh"]),
                        "bias_ih_l0": torch.tensor(p["b_ih"]), "bias_hh_l0": torch.tensor(p["b_hh"])})
    outs, vjp = _fn(kind)(**p)
    rng = np.random.default_rng(1)
    ups = [rng.standard_normal(o.shape) for o in outs]
    grads = vjp(ups)

    t_in = {k: torch.tensor(v, requires_grad=True) for k, v in p.items() if k in ("x", "h0", "c0")}
    hx = (t_in["h0"][None], t_in["c0"][None]) if kind == "lstm" else t_in["h0"][None]
    t_out, t_fin = tm(t_in["x"], hx)
    t_outs = (t_out,) + (tuple(s[0] for s in t_fin) if kind == "lstm" else (t_fin[0],))
    sum((t * torch.tensor(u)).sum() for t, u in zip(t_outs, ups)).backward()

    close = F64_TORCH
    for ours, ref in zip(outs, t_outs):
        np.testing.assert_allclose(ours, ref.detach().numpy(), **close)
    for k in t_in:
        np.testing.assert_allclose(grads[k], t_in[k].grad.numpy(), **close)
    for ours, name in [("w_ih", "weight_ih_l0"), ("w_hh", "weight_hh_l0"),
                       ("b_ih", "bias_ih_l0"), ("b_hh", "bias_hh_l0")]:
        np.testing.assert_allclose(grads[ours], getattr(tm, name).grad.numpy(), **close)


@pytest.mark.parametrize("kind", ["tanh", "relu", "lstm", "gru"])
def test_float32_stays_float32(kind):
    """Outputs, every cache array and every gradient keep the input dtype."""
    p = _problem(kind, np.float32)
    outs, vjp = _fn(kind)(**p)
    grads = vjp([np.ones_like(o) for o in outs])
    assert all(o.dtype == np.float32 for o in outs)
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("kind", ["tanh", "relu", "lstm"])
def test_shapes_and_cache_layout(kind):
    """Shapes promised by the docstrings; h is (T+1, N, H) with h[0] = h0."""
    p = _problem(kind, T=4, N=2, I=3, H=5)
    if kind == "lstm":
        out, h_n, c_n, cache = F.lstm_forward(**p)
        assert cache.c.shape == (5, 2, 5) and cache.gates.shape == (4, 2, 20)
        np.testing.assert_array_equal(cache.c[0], p["c0"])
        np.testing.assert_array_equal(cache.c[-1], c_n)
    else:
        out, h_n, cache = F.rnn_forward(**p, nonlinearity=kind)
    assert out.shape == (4, 2, 5) and h_n.shape == (2, 5)
    assert cache.h.shape == (5, 2, 5)
    np.testing.assert_array_equal(cache.h[0], p["h0"])
    np.testing.assert_array_equal(out[-1], h_n)


def test_relu_derivative_at_zero_is_zero():
    """torch's convention: a pre-activation of exactly 0 passes no gradient (R4)."""
    x = np.zeros((1, 1, 1))
    w = np.ones((1, 1))
    out, h_n, cache = F.rnn_forward(x, np.zeros((1, 1)), w, w, nonlinearity="relu")
    g = F.rnn_backward(np.ones((1, 1, 1)), np.zeros((1, 1)), cache)
    assert out[0, 0, 0] == 0 and g.dx[0, 0, 0] == 0 and g.dw_hh[0, 0] == 0


@pytest.mark.skipif(not JIT, reason="compares the jitted kernels with .py_func, which needs the JIT on")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["tanh", "relu", "lstm", "gru"])
def test_jit_and_python_kernels_agree(kind, dtype):
    """The compiled kernels and the same source run as Python give the same bits, in float64
    and in float32 (where each operation rounds to float32 in both: no literal may promote the
    compiled maths to float64, as NumPy's scalars would not)."""
    p = _problem(kind, dtype)
    T, N, _ = p["x"].shape
    H = p["h0"].shape[1]
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    xw = p["x"] @ p["w_ih"].T + p["b_ih"] + (0 if kind == "gru" else p["b_hh"])   # (T, N, G·H)
    d_out = np.random.default_rng(2).standard_normal((T, N, H)).astype(dtype)
    results = []
    for run in ("jit", "python"):
        pick = (lambda k: k) if run == "jit" else (lambda k: k.py_func)
        h = np.empty((T + 1, N, H), dtype)
        h[0] = p["h0"]
        d_a = np.empty((T, N, G * H), dtype)
        dh = np.empty((T, N, H), dtype)
        full = np.full(N, T)                                  # every sequence has all T steps
        if kind == "lstm":
            c = np.empty_like(h)
            c[0] = p["c0"]
            gates, tanh_c = np.empty((T, N, 4 * H), dtype), np.empty((T, N, H), dtype)
            no_proj_t, no_proj = np.empty((H, 0), dtype), np.empty((0, H), dtype)
            pick(kernels.lstm_forward_kernel)(xw, p["w_hh"].T, no_proj_t, h, c, h[1:], gates, tanh_c, full, 0, 0, N)
            d0 = np.empty((N, H), dtype), np.empty((N, H), dtype)
            pick(kernels.lstm_backward_kernel)(d_out, p["h0"], p["c0"], p["w_hh"], no_proj, c, gates,
                                               tanh_c, full, d_a, dh, *d0, 0, 0, N)
        elif kind == "gru":
            gates, hw_n, d_ah = (np.empty((T, N, 3 * H), dtype), np.empty((T, N, H), dtype),
                                 np.empty((T, N, 3 * H), dtype))
            pick(kernels.gru_forward_kernel)(xw, p["w_hh"].T, p["b_hh"], h, gates, hw_n, full, 0, 0, N)
            d0 = np.empty((N, H), dtype)
            pick(kernels.gru_backward_kernel)(d_out, p["h0"], p["w_hh"], h, gates, hw_n, full,
                                              d_a, d_ah, dh, d0, 0, 0, N)
        else:
            pick(kernels.rnn_forward_kernel)(xw, p["w_hh"].T, h, kind == "relu", full, 0, 0, N)
            d0 = np.empty((N, H), dtype)
            pick(kernels.rnn_backward_kernel)(d_out, p["h0"], p["w_hh"], h, kind == "relu", full,
                                              d_a, dh, d0, 0, 0, N)
        results.append((h, d_a, d0, dh))
    (h_j, da_j, d0_j, dh_j), (h_p, da_p, d0_p, dh_p) = results
    # The time loops compile without fastmath, so LLVM keeps each operation as written (no
    # a*b + c fused into one rounding), as NumPy's scalars run it; the products and gates are
    # the same compiled functions in both runs.
    tolerance = dict(rtol=0, atol=0)
    np.testing.assert_allclose(h_j, h_p, **tolerance)
    np.testing.assert_allclose(da_j, da_p, **tolerance)
    np.testing.assert_allclose(dh_j, dh_p, **tolerance)
    np.testing.assert_allclose(np.asarray(d0_j), np.asarray(d0_p), **tolerance)


@pytest.mark.parametrize("kind", ["tanh", "relu", "lstm", "gru"])
def test_recorded_dh_is_the_total_gradient_at_each_state(torch, kind):
    """``grads.dh[t]`` equals torch's ∂L/∂h_{t+1} from a step-by-step loop that keeps every
    state's gradient (retain_grad), with loss Σ_t <u_t, h_t> + <v, h_T> (+ <w, c_T>)."""
    p = _problem(kind)
    outs, vjp = _fn(kind)(**p)
    rng = np.random.default_rng(3)
    ups = [rng.standard_normal(o.shape) for o in outs]
    T = p["x"].shape[0]
    I, H = p["x"].shape[2], p["h0"].shape[1]
    if kind == "lstm":
        g = F.lstm_backward(ups[0], ups[1], ups[2], F.lstm_forward(**p)[3])
        cell = torch.nn.LSTMCell(I, H, dtype=torch.float64)
    elif kind == "gru":
        g = F.gru_backward(ups[0], ups[1], F.gru_forward(**p)[2])
        cell = torch.nn.GRUCell(I, H, dtype=torch.float64)
    else:
        g = F.rnn_backward(ups[0], ups[1], F.rnn_forward(**p, nonlinearity=kind)[2])
        cell = torch.nn.RNNCell(I, H, nonlinearity=kind, dtype=torch.float64)
    cell.load_state_dict({"weight_ih": torch.tensor(p["w_ih"]), "weight_hh": torch.tensor(p["w_hh"]),
                          "bias_ih": torch.tensor(p["b_ih"]), "bias_hh": torch.tensor(p["b_hh"])})
    state = (torch.tensor(p["h0"]), torch.tensor(p["c0"])) if kind == "lstm" else torch.tensor(p["h0"])
    hs, loss = [], 0
    for t in range(T):
        state = cell(torch.tensor(p["x"][t]), state)
        h = state[0] if kind == "lstm" else state
        h.retain_grad()
        hs.append(h)
        loss = loss + (h * torch.tensor(ups[0][t])).sum()
    loss = loss + (hs[-1] * torch.tensor(ups[1])).sum()
    if kind == "lstm":
        loss = loss + (state[1] * torch.tensor(ups[2])).sum()
    loss.backward()
    want = np.stack([h.grad.numpy() for h in hs])            # (T, N, H)
    np.testing.assert_allclose(g.dh, want, **F64_TORCH)


@pytest.mark.parametrize("N", [1, 2, 3, 4, 6, 7, 8, 9])
@pytest.mark.parametrize("K", [3, 4, 9])
@pytest.mark.parametrize("blas_small", [0, 10 ** 6])
def test_matmul_add_matches_numpy_on_both_paths(N, K, blas_small):
    """``matmul_add`` (own loops up to SMALL_N rows with a C-contiguous b, BLAS otherwise, and
    BLAS for 2 or more rows within ``blas_small``) against NumPy in float64, with and without
    ``c``; K = 3, 4, 9 cover the blocks of four rows of b and the remainder. Summation orders
    differ (rank-1 updates vs BLAS blocks, FMA), so each element within the rounding bound of
    a dot product of length K."""
    rng = np.random.default_rng(N)
    M = 11
    a = rng.standard_normal((N, K))
    c = rng.standard_normal((N, M))
    own = kernels.own_loops(N, K * M, blas_small)
    assert own == (N <= kernels.SMALL_N and (N == 1 or blas_small == 0))   # which path this case takes
    for b in (rng.standard_normal((K, M)), np.asfortranarray(rng.standard_normal((K, M)))):
        assert np.all(np.abs(kernels.matmul_add(c, a, b, blas_small) - (c + a @ b)) <= product_bound(a, b, c))
        assert np.all(np.abs(kernels.matmul_add(None, a, b, blas_small) - a @ b) <= product_bound(a, b))
    assert kernels.matmul_add(c, a, b, blas_small).shape == (N, M)
    c_before = c.copy()
    kernels.matmul_add(c, a, np.ascontiguousarray(b), blas_small)
    np.testing.assert_array_equal(c, c_before)                 # c is not written to


@pytest.mark.kernel
@pytest.mark.parametrize("N", [1, 2, 4, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_own_loops_add_c_after_the_product(N, dtype):
    """The own loops sum ``a @ b`` from zero and add c last, one rounding: bit for bit the
    product without c, plus c. (Summed from c on, as they once were, every addition rounds at
    c's size; a GRU's float32 gradients at one sequence came up to 1.9x as far from the
    float64 truth as torch's.) K = 37: four rows of b at a time and a remainder."""
    rng = np.random.default_rng(N)
    K, M = 37, 40
    a, b, c = (rng.standard_normal(s).astype(dtype) for s in ((N, K), (K, M), (N, M)))
    c *= 100                                                   # c large: the orders differ
    assert kernels.own_loops(N, b.size, 0)
    np.testing.assert_array_equal(kernels.matmul_add(c, a, b, 0), kernels.matmul_add(None, a, b, 0) + c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 40), (64, 16), (37, 21), (4 * 33, 33), "whole", "ragged"])
def test_transpose_into_copies_the_transpose_exactly(shape, dtype):
    """Register tiles (16 × 16 float32, 8 × 8 float64 with AVX-512; half that without) over
    shapes that are and are not multiples of them: every element moved, none lost; from a view
    with its rows in reverse order (a negative row stride), into rows with room after them, and
    from a transposed view (columns in memory: element by element)."""
    TILE = 16
    shape = {"whole": (2 * TILE, 3 * TILE), "ragged": (2 * TILE + 5, TILE + 13)}.get(shape, shape)
    a = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    out = np.full(shape[::-1], np.nan, dtype)
    assert kernels.transpose_into(a, out) is out
    np.testing.assert_array_equal(out, a.T)
    reversed_rows = np.full(shape[::-1], np.nan, dtype)
    kernels.transpose_into(a[::-1], reversed_rows)
    np.testing.assert_array_equal(reversed_rows, a[::-1].T)
    wide = np.full((shape[1], shape[0] + 3), np.nan, dtype)
    kernels.transpose_into(a, wide[:, :shape[0]])
    np.testing.assert_array_equal(wide[:, :shape[0]], a.T)
    assert np.isnan(wide[:, shape[0]:]).all()                   # nothing written past the rows
    out_of_view = np.full(shape[::-1], np.nan, dtype)
    kernels.transpose_into(np.asfortranarray(a), out_of_view)  # rows not contiguous: element by element
    np.testing.assert_array_equal(out_of_view, a.T)
    with pytest.raises(ValueError, match=r"expected out of shape \(C, R\)"):
        kernels.transpose_into(a, np.empty((shape[1], shape[0] + 1), dtype))


def test_own_loops_give_way_to_small_matrix_kernels_only_within_their_limit():
    """Rows × K × M within ``blas_small``: BLAS from 2 rows; one row, or past it: the old rule."""
    assert not kernels.own_loops(8, 128 * 512, 10 ** 6)        # 8 × 128 × 512 = 524 288: BLAS's small kernel
    assert kernels.own_loops(8, 128 * 512, 0)                  # no small-matrix kernels: own loops
    assert kernels.own_loops(2, 512 * 2048, 10 ** 6)           # past the limit: own loops
    assert kernels.own_loops(1, 128 * 512, 10 ** 6)            # one row: own loops up to SINGLE_ROW_MAX
    assert not kernels.own_loops(1, kernels.SINGLE_ROW_MAX + 1, 10 ** 6)
    assert not kernels.own_loops(kernels.SMALL_N + 1, 4, 0)    # many rows: BLAS


def test_is_single_picks_the_float32_path_in_compiled_and_python_code():
    """The dtype switch of the gate maths: a type constant when compiled, a dtype test in Python."""
    from numba import njit
    compiled = njit(lambda a: kernels.is_single(a))
    for f in (compiled, kernels.is_single):
        assert f(np.zeros(2, np.float32)) and not f(np.zeros(2, np.float64))


def test_matmul_add_one_long_row_goes_to_blas_and_agrees():
    """One row with a b larger than SINGLE_ROW_MAX takes the BLAS branch; same numbers."""
    rng = np.random.default_rng(5)
    K = 512
    M = kernels.SINGLE_ROW_MAX // K + 1                        # b.size just over the limit
    a, b, c = rng.standard_normal((1, K)), rng.standard_normal((K, M)), rng.standard_normal((1, M))
    assert np.all(np.abs(kernels.matmul_add(c, a, b, 0) - (c + a @ b)) <= product_bound(a, b, c))
