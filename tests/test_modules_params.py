"""Module parameters against torch's conventions: names, order, shapes, initialisation, seeds,
state_dict / load_state_dict semantics, gradient accumulation, forget-gate bias, projection.

Numeric parity with torch is in test_torch_ref.py, test_parity.py and ``scratchrnn verify``;
layouts, dropout, dtypes and cells in test_modules_layouts.py.
"""

import itertools

import numpy as np
import pytest

import scratchrnn as sr
from module_cases import H, I, KINDS, N, T, close, make, problem, run, torch_twin
from tolerances import F64_LAYOUT, SIGMOID_RTOL


# ---------------------------------------------------------------------------
# parameters: names, order, shapes, initialisation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind, num_layers, bidirectional, bias",
                         list(itertools.product(["tanh", "lstm", "gru"], [1, 3], [False, True], [True, False])))
def test_parameter_names_order_shapes_equal_torch(torch, kind, num_layers, bidirectional, bias):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    m = make(kind, **kw)
    ref = torch_twin(torch, kind, **kw)
    want = [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert [(k, v.shape) for k, v in m.state_dict().items()] == want
    assert [(k, v.shape) for k, v in m.grads.items()] == want
    assert [(k, v.shape) for k, v in m.named_parameters()] == want


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_parameter_names_equal_torch(torch, name, bias):
    m, ref = getattr(sr, name)(I, H, bias=bias), getattr(torch.nn, name)(I, H, bias=bias)
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
def test_load_state_dict_accepts_torch_and_numpy_and_casts(torch, kind, as_torch):
    kw = dict(num_layers=2, bidirectional=True)
    ref = torch_twin(torch, kind, dtype=torch.float64, **kw)
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


@pytest.mark.parametrize("tdtype", ["bfloat16", "float16", "float32"])
def test_load_state_dict_accepts_any_torch_float_dtype(torch, tdtype):
    """bfloat16 has no NumPy dtype; its values still load (each is exact in float32)."""
    tdtype = getattr(torch, tdtype)
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
        # the second backward's products are added into the first's sums as BLAS stores them
        # (the RNN's and GRU's dW_hh a chunk at a time): g + g in another order of additions
        np.testing.assert_allclose(g, 2 * once[k], **F64_LAYOUT, err_msg=k)
    m(x, hx)
    m.backward(d_out, d_fin)                          # a third, after a new forward
    for k, g in m.grads.items():
        np.testing.assert_allclose(g, 3 * once[k], **F64_LAYOUT, err_msg=k)   # (g + g) + g' vs 3·g
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
    np.testing.assert_allclose(c_n, 1 / (1 + np.exp(-2.0)), rtol=SIGMOID_RTOL)


def test_forget_bias_errors():
    with pytest.raises(ValueError, match="bias=True"):
        sr.LSTM(I, H, bias=False, forget_bias=1.0)
    with pytest.raises(ValueError, match="forget_bias must be a finite number"):
        sr.LSTM(I, H, forget_bias=float("nan"))


def test_forget_bias_torch_twin_holds_the_same_weights(torch_ref):
    tm = torch_ref.LSTM(I, H, num_layers=2, forget_bias=1.0, seed=3, device="cpu")
    for k, v in sr.LSTM(I, H, num_layers=2, forget_bias=1.0, seed=3).state_dict().items():
        np.testing.assert_array_equal(getattr(tm, k).detach().numpy(), v)


# ---------------------------------------------------------------------------
# LSTM projection (proj_size), beyond the parity properties in test_parity.py
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("num_layers, bidirectional, bias", [(1, False, True), (3, True, False)])
def test_projection_parameters_and_shapes_equal_torch(torch, num_layers, bidirectional, bias):
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
