"""Module behaviour that is not numeric parity with torch (tests/test_torch_ref.py and
``scratchrnn verify`` do that): torch's parameter names, initialisation, state_dict
semantics, gradient accumulation, dropout, layouts (unbatched, batch_first,
non-contiguous), dtypes, and cells against a one-step sequence module.

Exactness checks run in float64. Where two computations run the very same floating-point
operations on the same numbers they agree exactly; RTOL = 1e-12 (with ATOL = 1e-14 for
values that cancel to ~0) only leaves room for BLAS picking a different kernel for a
differently laid out operand, which changes the summation order by a few ulps.
"""

import itertools
import warnings

import numpy as np
import pytest

import scratchrnn as sr
import scratchrnn.modules

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-12, 1e-14
T, N, I, H = 5, 3, 4, 6  # time, batch, input features, hidden


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
            np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def make(kind, **kw):
    kw.setdefault("dtype", np.float64)
    kw.setdefault("seed", 0)
    if kind == "lstm":
        return sr.LSTM(kw.pop("input_size", I), H, **kw)
    if kind == "gru":
        return sr.GRU(kw.pop("input_size", I), H, **kw)
    return sr.RNN(kw.pop("input_size", I), H, nonlinearity=kind, **kw)


def torch_twin(kind, **kw):
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


def run(m, x, hx, d_out, d_fin):
    """Fresh grads, one forward and one backward -> (out, finals, dx, d_hx, grads copy)."""
    m.zero_grad()
    out, fin = m(x, hx)
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


KINDS = ["tanh", "relu", "lstm", "gru"]


# ---------------------------------------------------------------------------
# parameters: names, order, shapes, initialisation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind, num_layers, bidirectional, bias",
                         list(itertools.product(["tanh", "lstm", "gru"], [1, 3], [False, True], [True, False])))
def test_parameter_names_order_shapes_equal_torch(kind, num_layers, bidirectional, bias):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    m = make(kind, **kw)
    ref = torch_twin(kind, **kw)
    want = [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert [(k, v.shape) for k, v in m.state_dict().items()] == want
    assert [(k, v.shape) for k, v in m.grads.items()] == want
    assert [(k, v.shape) for k, v in m.named_parameters()] == want


@pytest.mark.parametrize("cls, tcls", [(sr.RNNCell, torch.nn.RNNCell), (sr.LSTMCell, torch.nn.LSTMCell),
                                      (sr.GRUCell, torch.nn.GRUCell)])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_parameter_names_equal_torch(cls, tcls, bias):
    m, ref = cls(I, H, bias=bias), tcls(I, H, bias=bias)
    want = [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert [(k, v.shape) for k, v in m.state_dict().items()] == want
    assert [(k, v.shape) for k, v in m.grads.items()] == want


@pytest.mark.parametrize("make_module", [
    lambda: sr.LSTM(100, 64, num_layers=2, bidirectional=True, seed=1),
    lambda: sr.RNN(100, 64, num_layers=2, seed=2),
    lambda: sr.LSTMCell(100, 64, seed=3),
    lambda: sr.RNNCell(100, 64, seed=4, dtype=np.float64),
    lambda: sr.GRU(100, 64, num_layers=2, seed=5),
    lambda: sr.GRUCell(100, 64, seed=6),
], ids=["LSTM", "RNN", "LSTMCell", "RNNCell", "GRU", "GRUCell"])
def test_initialisation_is_uniform_within_one_over_sqrt_hidden(make_module):
    m = make_module()
    bound = 1 / np.sqrt(64)                  # from H, not from input_size = 100 (that would be 0.1)
    values = np.concatenate([v.ravel().astype(np.float64) for v in m.state_dict().values()])
    n = values.size                          # >= 64·100 + 64·64 + 2·64 = 10,624
    assert n > 10_000
    assert np.abs(values).max() <= np.float32(bound)
    assert np.abs(values).max() > 0.99 * bound       # P(all n inside 0.99·bound) = 0.99**n < 1e-40
    for k, v in m.state_dict().items():
        assert np.abs(v).max() <= np.float32(bound), k
    # U(-b, b): mean 0, std b/√3. The sample std has relative standard error
    # √((μ4/σ⁴ - 1)/(4n)) = √((9/5 - 1)/(4n)) ≈ 0.45/√n ≈ 0.44 % here; 3 % is > 6 of them.
    assert abs(values.std() / (bound / np.sqrt(3)) - 1) < 0.03
    # The mean has standard error (b/√3)/√n; allow 6 of them.
    assert abs(values.mean()) < 6 * bound / np.sqrt(3) / np.sqrt(n)
    # Flat: each of 10 bins holds n/10 ± 6 binomial standard deviations.
    counts, _ = np.histogram(values, bins=10, range=(-bound, bound))
    assert np.all(np.abs(counts - n / 10) < 6 * np.sqrt(n * 0.1 * 0.9)), counts


@pytest.mark.parametrize("cls", [sr.RNN, sr.LSTM, sr.GRU, sr.RNNCell, sr.LSTMCell, sr.GRUCell])
def test_seed_determines_weights(cls):
    a, b, c = cls(I, H, seed=7), cls(I, H, seed=7), cls(I, H, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
        assert not np.any(sa[k] == sc[k]), k      # continuous draws: no value repeats by chance
    d, e = cls(I, H), cls(I, H)                   # seed=None: fresh entropy each time
    assert not np.array_equal(d.state_dict()["weight_hh" + ("" if "Cell" in cls.__name__ else "_l0")],
                              e.state_dict()["weight_hh" + ("" if "Cell" in cls.__name__ else "_l0")])


# ---------------------------------------------------------------------------
# state_dict / load_state_dict
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_returns_copies(kind):
    m = make(kind, num_layers=2)
    x = np.random.default_rng(0).standard_normal((T, N, I))
    out_before, _ = m(x)
    sd = m.state_dict()
    live = dict(m.named_parameters())
    for k, v in sd.items():
        assert not np.shares_memory(v, live[k]), k
        v[...] = 0.25                                 # mutate every returned array
    for k, v in m.state_dict().items():
        assert not np.any(v == 0.25), k
    np.testing.assert_array_equal(m(x)[0], out_before)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("as_torch", [True, False])
def test_load_state_dict_accepts_torch_and_numpy_and_casts(kind, as_torch):
    kw = dict(num_layers=2, bidirectional=True)
    ref = torch_twin(kind, dtype=torch.float64, **kw)
    src = ref.state_dict() if as_torch else {k: v.numpy().copy() for k, v in ref.state_dict().items()}
    if as_torch:                                      # tensors that require grad are fine too
        src = {k: v.clone().requires_grad_(True) for k, v in src.items()}
    m = make(kind, dtype=np.float32, seed=0, **kw)
    live = dict(m.named_parameters())
    m.load_state_dict(src)
    for k, v in m.state_dict().items():
        want = ref.state_dict()[k].numpy().astype(np.float32)   # float64 values, cast once
        assert v.dtype == np.float32, k
        np.testing.assert_array_equal(v, want, err_msg=k)
        assert dict(m.named_parameters())[k] is live[k], k      # updated in place: optimizers keep refs
    with torch.no_grad():                             # the module holds its own copy
        for v in src.values():
            v[...] = 3.0
    assert not any(np.any(v == 3.0) for v in m.state_dict().values())


@pytest.mark.parametrize("tdtype", [torch.bfloat16, torch.float16, torch.float32])
def test_load_state_dict_accepts_any_torch_float_dtype(tdtype):
    """bfloat16 has no NumPy dtype; its values still load (each is exact in float32)."""
    m = sr.LSTM(I, H, dtype=np.float32, seed=0)
    src = {k: torch.from_numpy(v).to(tdtype) for k, v in m.state_dict().items()}
    m.load_state_dict(src)
    for k, v in m.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, src[k].to(torch.float32).numpy(), err_msg=k)


def test_load_state_dict_round_trip_changes_outputs_to_the_loaded_module():
    a, b = make("lstm", num_layers=2, seed=1), make("lstm", num_layers=2, seed=2)
    x = np.random.default_rng(0).standard_normal((T, N, I))
    assert not np.allclose(a(x)[0], b(x)[0])
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b(x)[0], a(x)[0])


# ---------------------------------------------------------------------------
# gradients accumulate until zero_grad
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_grads_accumulate_until_zero_grad(kind):
    m = make(kind, num_layers=2, bidirectional=True)
    x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(0))
    *_, once = run(m, x, hx, d_out, d_fin)
    assert all(np.any(g != 0) for g in once.values())
    m.backward(d_out, d_fin)                          # second backward of the same forward
    for k, g in m.grads.items():
        np.testing.assert_array_equal(g, 2 * once[k], err_msg=k)    # g + g is exact in float64
    m(x, hx)
    m.backward(d_out, d_fin)                          # a third, after a new forward
    for k, g in m.grads.items():
        np.testing.assert_allclose(g, 3 * once[k], rtol=RTOL, atol=ATOL, err_msg=k)
    m.zero_grad()
    assert all(not g.any() for g in m.grads.values())
    m.backward(d_out, d_fin)
    close(m.grads, once)


@pytest.mark.parametrize("cls", [sr.RNNCell, sr.LSTMCell, sr.GRUCell])
def test_cell_grads_accumulate_until_zero_grad(cls):
    m = cls(I, H, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, I))
    g = rng.standard_normal((N, H))
    d = (g, rng.standard_normal((N, H))) if cls is sr.LSTMCell else g
    hx = (rng.standard_normal((N, H)), rng.standard_normal((N, H))) if cls is sr.LSTMCell \
        else rng.standard_normal((N, H))                # non-zero h: weight_hh gets a gradient
    m(x, hx)
    m.backward(d)
    once = {k: v.copy() for k, v in m.grads.items()}
    assert all(np.any(v != 0) for v in once.values())
    m.backward(d)
    for k, v in m.grads.items():
        np.testing.assert_array_equal(v, 2 * once[k], err_msg=k)
    m.zero_grad()
    m.backward(d)
    close(m.grads, once)


# ---------------------------------------------------------------------------
# returned arrays are the caller's: mutating them cannot change backward
# ---------------------------------------------------------------------------

CONFIGS = [dict(), dict(bidirectional=True), dict(num_layers=2), dict(batch_first=True),
           dict(num_layers=2, bidirectional=True, batch_first=True)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(c) or "plain")
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
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(c) or "plain")
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


# ---------------------------------------------------------------------------
# LSTM forget-gate bias initialisation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (3, True)])
def test_forget_bias_reaches_every_layer_and_direction(num_layers, bidirectional):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, seed=5)
    plain = sr.LSTM(I, H, **kw).state_dict()
    m = sr.LSTM(I, H, forget_bias=1.0, **kw)
    biases = [k for k in m.state_dict() if k.startswith("bias")]
    assert len(biases) == 2 * num_layers * (2 if bidirectional else 1)
    for k, v in m.state_dict().items():
        f = slice(H, 2 * H)                             # gate order i, f, g, o
        if k.startswith("bias_ih"):
            assert np.all(v[f] == 1.0), k
        elif k.startswith("bias_hh"):
            assert np.all(v[f] == 0.0), k
        keep = np.ones(v.shape[0], bool)
        if k.startswith("bias"):
            keep[f] = False
        np.testing.assert_array_equal(v[keep], plain[k][keep], err_msg=k)   # nothing else moved


def test_forget_bias_sets_the_forget_gate_at_zero_input():
    """With zero input, zero state and zero weights, f = σ(forget_bias) exactly: c_1 = 0, and
    with c0 = 1 the cell keeps σ(b) of it."""
    m = sr.LSTM(I, H, forget_bias=2.0, dtype=np.float64, seed=0)
    forget_block = np.arange(4 * H) // H == 1
    m.load_state_dict({k: np.where(forget_block, v, 0.0) if k.startswith("bias") else np.zeros_like(v)
                       for k, v in m.state_dict().items()})   # keep only the forget-gate bias
    x = np.zeros((1, 1, I))
    _, (h_n, c_n) = m(x, (np.zeros((1, 1, H)), np.ones((1, 1, H))))
    # i = σ(0) = 0.5, g = tanh(0) = 0, so c_1 = f · c_0 = σ(2)
    np.testing.assert_allclose(c_n, 1 / (1 + np.exp(-2.0)), rtol=1e-15)


def test_forget_bias_errors_and_torch_twin():
    with pytest.raises(ValueError, match="bias=True"):
        sr.LSTM(I, H, bias=False, forget_bias=1.0)
    with pytest.raises(ValueError, match="forget_bias must be a finite number"):
        sr.LSTM(I, H, forget_bias=float("nan"))
    import torch_ref
    tm = torch_ref.LSTM(I, H, num_layers=2, forget_bias=1.0, seed=3, device="cpu")
    for k, v in sr.LSTM(I, H, num_layers=2, forget_bias=1.0, seed=3).state_dict().items():
        np.testing.assert_array_equal(getattr(tm, k).detach().numpy(), v)


# ---------------------------------------------------------------------------
# LSTM projection (proj_size), beyond the parity properties in test_parity.py
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("num_layers, bidirectional, bias", [(1, False, True), (3, True, False)])
def test_projection_parameters_and_shapes_equal_torch(num_layers, bidirectional, bias):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias, proj_size=2)
    m = sr.LSTM(I, H, **kw)
    ref = torch.nn.LSTM(I, H, **kw)
    assert [(k, v.shape) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    D = 2 if bidirectional else 1
    out, (h_n, c_n) = m(np.zeros((4, N, I), np.float32))
    assert out.shape == (4, N, D * 2) and h_n.shape == (D * num_layers, N, 2)
    assert c_n.shape == (D * num_layers, N, H)
    assert np.all(np.abs(m.state_dict()["weight_hr_l0"]) <= 1 / np.sqrt(H))   # bound from H
