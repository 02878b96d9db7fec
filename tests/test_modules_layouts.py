"""Module behaviour in every layout: returned arrays are the caller's, dropout (eval mode,
replay, mask statistics, backward), unbatched / batch_first / non-contiguous inputs, dtypes
kept end to end, and cells against one step of the sequence module.

All comparisons are within scratchrnn (float64, ``F64_LAYOUT``): none needs torch.
"""

import warnings

import numpy as np
import pytest

import scratchrnn as sr
from module_cases import (CONFIGS, H, I, KINDS, N, T, cached_arrays, close, config_id, make, problem,
                          run, states)


# ---------------------------------------------------------------------------
# returned arrays are the caller's: mutating them cannot change backward
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cfg", CONFIGS, ids=config_id)
@pytest.mark.parametrize("batched", [True, False])
def test_outputs_are_not_views_into_the_cache(kind, cfg, batched):
    m = make(kind, **cfg)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(1), batched)
    ref = run(m, x, hx, d_out, d_fin)
    m.zero_grad()
    out, fin = m(x, hx)
    for a in (out,) + (fin if kind == "lstm" else (fin,)):
        assert not any(np.shares_memory(a, c) for c in cached_arrays(m._cache))
        a[...] = 123.0                                # scribble over everything returned
    dx, dhx = m.backward(d_out, d_fin)
    close((dx, dhx, m.grads), (ref[2], ref[3], ref[4]))


@pytest.mark.parametrize("cls", [sr.RNNCell, sr.LSTMCell, sr.GRUCell])
def test_cell_outputs_are_not_views_into_the_cache(cls):
    m = cls(I, H, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, I))
    d = (rng.standard_normal((N, H)), rng.standard_normal((N, H))) if cls is sr.LSTMCell \
        else rng.standard_normal((N, H))
    m(x)
    ref = m.backward(d), {k: v.copy() for k, v in m.grads.items()}
    m.zero_grad()
    res = m(x)
    for a in (res if cls is sr.LSTMCell else (res,)):
        assert not any(np.shares_memory(a, c) for c in cached_arrays(m._cache))
        a[...] = -7.0
    close((m.backward(d), m.grads), ref)


# ---------------------------------------------------------------------------
# dropout
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_dropout_eval_mode_equals_no_dropout(kind):
    drop = make(kind, num_layers=3, dropout=0.5, seed=4)
    plain = make(kind, num_layers=3, dropout=0.0, seed=4)
    x, hx, *_ = problem(kind, plain, np.random.default_rng(0))
    want = plain(x, hx)
    train_out = drop(x, hx)[0]
    assert not np.allclose(train_out, want[0])        # dropout is really on in training mode
    assert drop.eval() is drop and not drop.training
    gen_state = drop.generator.bit_generator.state
    close(drop(x, hx), want)
    assert drop._cache.masks == [None, None, None]
    assert drop.generator.bit_generator.state == gen_state    # eval draws no masks
    drop.train()
    assert drop.training


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_replayed_generator_is_deterministic(kind):
    m = make(kind, num_layers=2, dropout=0.3, bidirectional=True)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(0))
    m.generator = np.random.default_rng(11)
    a = run(m, x, hx, d_out, d_fin)
    mask_a = m._cache.masks[0].copy()
    m.generator = np.random.default_rng(11)
    b = run(m, x, hx, d_out, d_fin)
    np.testing.assert_array_equal(m._cache.masks[0], mask_a)
    close(b, a, exact=True)                           # out, finals, dx, d_hx, grads: bit for bit
    m.generator = np.random.default_rng(12)
    c = run(m, x, hx, d_out, d_fin)
    assert not np.array_equal(m._cache.masks[0], mask_a)
    assert not np.allclose(c[0], a[0])


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_masks_drop_a_fraction_p_between_layers_only(p):
    m = sr.LSTM(I, 16, num_layers=3, dropout=p, bidirectional=True, seed=0)
    m(np.random.default_rng(0).standard_normal((40, 8, I)).astype(np.float32))
    masks = m._cache.masks
    assert masks[2] is None                           # never after the last layer
    for mask in masks[:2]:
        assert mask.shape == (40, 8, 32) and mask.dtype == np.float32
        n = mask.size                                 # 10,240
        frac = np.mean(mask == 0)
        # binomial standard error √(p(1-p)/n) ≤ 0.005 here; allow 6 of them
        assert abs(frac - p) < 6 * np.sqrt(p * (1 - p) / n), frac
        kept = mask[mask != 0]
        np.testing.assert_array_equal(kept, np.float32(1 / (1 - p)))   # inverted dropout scale
    assert not np.array_equal(masks[0], masks[1])


def test_dropout_with_one_layer_warns_and_more_layers_do_not():
    for cls in (sr.RNN, sr.LSTM):
        with pytest.warns(UserWarning, match=r"dropout.*num_layers=1.*0\.3"):
            cls(I, H, dropout=0.3)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cls(I, H, num_layers=2, dropout=0.3)
            cls(I, H, dropout=0.0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_backward_through_dropout_equals_composed_single_layers(kind, bidirectional):
    D = 2 if bidirectional else 1
    m = make(kind, num_layers=2, dropout=0.4, bidirectional=bidirectional, seed=5)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(2))
    out, fin, dx, dhx, grads = run(m, x, hx, d_out, d_fin)
    mask = m._cache.masks[0]                          # (T, N, D·H)
    assert mask.shape == (T, N, D * H) and 0 < np.mean(mask == 0) < 1

    sd = m.state_dict()
    m1 = make(kind, bidirectional=bidirectional)
    m2 = make(kind, input_size=D * H, bidirectional=bidirectional)
    m1.load_state_dict({k: v for k, v in sd.items() if "_l0" in k})
    m2.load_state_dict({k.replace("_l1", "_l0"): v for k, v in sd.items() if "_l1" in k})
    split = (lambda s, sl: tuple(a[sl] for a in s)) if kind == "lstm" else (lambda s, sl: s[sl])
    lo, hi = slice(0, D), slice(D, 2 * D)             # (S5): rows k·D + d
    o1, f1 = m1(x, split(hx, lo))
    o2, f2 = m2(o1 * mask, split(hx, hi))
    d2, dh2 = m2.backward(d_out, split(d_fin, hi))
    d1, dh1 = m1.backward(d2 * mask, split(d_fin, lo))

    cat = (lambda a, b: tuple(np.concatenate([u, v]) for u, v in zip(a, b))) if kind == "lstm" \
        else (lambda a, b: np.concatenate([a, b]))
    close(out, o2, "out")
    close(fin, cat(f1, f2), "finals")
    close(dx, d1, "dx")
    close(dhx, cat(dh1, dh2), "d_hx")
    for k, g in grads.items():
        want = m1.grads[k] if "_l0" in k else m2.grads[k.replace("_l1", "_l0")]
        close(g, want, k)


# ---------------------------------------------------------------------------
# layouts: unbatched, batch_first, non-contiguous
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cfg", CONFIGS, ids=config_id)
def test_unbatched_equals_batch_of_one(kind, cfg):
    m = make(kind, **cfg)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(3), batched=False)
    got = run(m, x, hx, d_out, d_fin)
    ax = 0 if m.batch_first else 1                    # where the batch axis goes
    add = (lambda s: tuple(a[:, None] for a in s)) if kind == "lstm" else (lambda s: s[:, None])
    drop = (lambda s: tuple(a[:, 0] for a in s)) if kind == "lstm" else (lambda s: s[:, 0])
    want = run(m, np.expand_dims(x, ax), add(hx), np.expand_dims(d_out, ax), add(d_fin))
    assert got[0].shape == (T, m.num_directions * H)
    close(got[0], np.squeeze(want[0], ax), "out")
    close(got[1], drop(want[1]), "finals")
    close(got[2], np.squeeze(want[2], ax), "dx")
    close(got[3], drop(want[3]), "d_hx")
    close(got[4], want[4], "grads")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cfg", [dict(), dict(num_layers=2, bidirectional=True)], ids=["plain", "L2-bi"])
def test_batch_first_equals_time_major_transposed(kind, cfg):
    tm, bf = make(kind, **cfg), make(kind, batch_first=True, **cfg)
    x, hx, d_out, d_fin = problem(kind, tm, np.random.default_rng(4))
    want = run(tm, x, hx, d_out, d_fin)
    swap = lambda a: np.ascontiguousarray(a.transpose(1, 0, 2))   # noqa: E731
    got = run(bf, swap(x), hx, swap(d_out), d_fin)
    assert got[0].shape == (N, T, tm.num_directions * H)
    close(got[0], swap(want[0]), "out")
    close(got[1], want[1], "finals")                  # states stay (D·L, N, H), as in torch
    close(got[2], swap(want[2]), "dx")
    close(got[3], want[3], "d_hx")
    close(got[4], want[4], "grads")


def _strided(a, how):
    """A non-contiguous array equal to ``a``."""
    if how == "slice":                                # every other row of a bigger array
        big = np.zeros((a.shape[0], 2 * a.shape[1]) + a.shape[2:], a.dtype)
        big[:, ::2] = a
        v = big[:, ::2]
    elif how == "fortran":                            # transposed memory order
        v = np.asfortranarray(a)
    else:                                             # negative strides
        v = a[::-1].copy()[::-1]
    assert not v.flags.c_contiguous and np.array_equal(v, a)
    return v


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["slice", "fortran", "reversed"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_non_contiguous_inputs_equal_contiguous_copies(kind, how, batch_first):
    m = make(kind, num_layers=2, bidirectional=True, batch_first=batch_first)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(5))
    want = run(m, x, hx, d_out, d_fin)
    nc = (lambda s: tuple(_strided(a, how) for a in s)) if kind == "lstm" else (lambda s: _strided(s, how))
    got = run(m, _strided(x, how), nc(hx), _strided(d_out, how), nc(d_fin))
    close(got, want)


def test_transposed_view_of_batch_major_data_as_time_major_input():
    """The common case: data stored (N, T, I), fed time-major as x.transpose(1, 0, 2)."""
    m = make("lstm", num_layers=2)
    data = np.random.default_rng(6).standard_normal((N, T, I))
    view = data.transpose(1, 0, 2)
    assert not view.flags.c_contiguous
    d_out = np.random.default_rng(7).standard_normal((T, N, H))
    close(run(m, view, None, d_out, None), run(m, view.copy(), None, d_out, None))


# ---------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batched", [True, False])
def test_module_dtype_is_kept_end_to_end(kind, dtype, batched):
    m = make(kind, num_layers=2, bidirectional=True, dropout=0.2, dtype=dtype)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(8), batched, dtype)
    out, fin, dx, dhx, grads = run(m, x.astype(dtype), hx, d_out, d_fin)
    arrays = {"out": out, "dx": dx}
    for name, s in (("fin", fin), ("d_hx", dhx)):
        for i, a in enumerate(s if kind == "lstm" else (s,)):
            arrays[f"{name}{i}"] = a
    arrays.update({f"grad {k}": v for k, v in grads.items()})
    arrays.update({f"param {k}": v for k, v in m.state_dict().items()})
    arrays["mask"] = m._cache.masks[0]
    for name, a in arrays.items():
        assert a.dtype == dtype, f"{name}: {a.dtype}"
    dx0, _ = m.backward(d_out)                        # None state grads become zeros of the dtype
    assert dx0.dtype == dtype


@pytest.mark.parametrize("cls", [sr.RNNCell, sr.LSTMCell, sr.GRUCell])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cell_dtype_is_kept(cls, dtype):
    m = cls(I, H, dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    res = m(rng.standard_normal((N, I)).astype(dtype))
    res = res if cls is sr.LSTMCell else (res,)
    g = tuple(rng.standard_normal((N, H)).astype(dtype) for _ in res)
    dx, dh = m.backward(g if cls is sr.LSTMCell else g[0])
    for a in res + (dx,) + (dh if cls is sr.LSTMCell else (dh,)) + tuple(m.grads.values()):
        assert a.dtype == dtype


# ---------------------------------------------------------------------------
# cells = one step of the sequence module
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_equals_one_step_sequence(kind, bias, batched):
    if kind == "lstm":
        cell = sr.LSTMCell(I, H, bias=bias, dtype=np.float64, seed=9)
    elif kind == "gru":
        cell = sr.GRUCell(I, H, bias=bias, dtype=np.float64, seed=9)
    else:
        cell = sr.RNNCell(I, H, bias=bias, nonlinearity=kind, dtype=np.float64, seed=9)
    seq = make(kind, bias=bias, seed=99)
    seq.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    rng = np.random.default_rng(10)
    lead = (N,) if batched else ()
    x = rng.standard_normal(lead + (I,))
    hx = states(kind, rng, lead + (H,))
    d = states(kind, rng, lead + (H,))
    as_tuple = (lambda s: s) if kind == "lstm" else (lambda s: (s,))
    ax = (lambda s: tuple(a[None] for a in as_tuple(s))) if kind == "lstm" else (lambda s: s[None])

    res = cell(x, hx)
    dx, dh = cell.backward(d)
    # the cell's output h' is both out[0] and h_n[0]; feed its grad through h_n
    out, fin = seq(x[None], ax(hx))
    sdx, sdh = seq.backward(np.zeros_like(out), ax(d))
    close(as_tuple(res), tuple(a[0] for a in as_tuple(fin)), "h'")
    close(as_tuple(res)[0], out[0], "h' = out[0]")
    close(dx, sdx[0], "dx")
    close(as_tuple(dh), tuple(a[0] for a in as_tuple(sdh)), "dh")
    close(cell.grads, {k[:-3]: v for k, v in seq.grads.items()}, "grads")
    # and through out[0] instead: same gradients up to rounding (the adds happen elsewhere)
    seq.zero_grad()
    d_h = as_tuple(d)[0]
    d_rest = ((np.zeros_like(d_h)[None], as_tuple(d)[1][None]) if kind == "lstm" else None)
    sdx2, _ = seq.backward(d_h[None], d_rest)
    close(dx, sdx2[0], "dx via out")


def test_cell_unbatched_equals_batch_of_one():
    m = sr.LSTMCell(I, H, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x, h, c, dh, dc = (rng.standard_normal(s) for s in [(I,), (H,), (H,), (H,), (H,)])
    h1, c1 = m(x, (h, c))
    dx1, (dh1, dc1) = m.backward((dh, dc))
    g1 = {k: v.copy() for k, v in m.grads.items()}
    m.zero_grad()
    hb, cb = m(x[None], (h[None], c[None]))
    dxb, (dhb, dcb) = m.backward((dh[None], dc[None]))
    assert h1.shape == (H,) and dx1.shape == (I,)
    close((h1, c1, dx1, dh1, dc1), (hb[0], cb[0], dxb[0], dhb[0], dcb[0]))
    close(m.grads, g1)

