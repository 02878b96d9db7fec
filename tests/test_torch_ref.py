"""torch_ref: the Loop modules against torch.nn, and the scratchrnn <-> torch converters.

Every test here needs torch (torch_ref is built on it), so the whole file skips without it;
an import error of torch_ref or scratchrnn themselves fails the collection.
"""

import itertools
import warnings

import numpy as np
import pytest

import scratchrnn as sr
from tolerances import F64_TORCH

torch = pytest.importorskip("torch", reason="needs torch (not installed): every test compares with it")
from torch import nn  # noqa: E402

import torch_ref  # noqa: E402

T, N, I, H = 5, 3, 4, 6  # time, batch, input features, hidden


def close(actual, expected, what=""):
    torch.testing.assert_close(actual, expected, **F64_TORCH, msg=lambda m: f"{what}: {m}")


def make_pair(kind, num_layers, bidirectional, batch_first, bias=True, dropout=0.0):
    """Returns (nn module, Loop module) in float64 on CPU holding the same weights."""
    kw = dict(num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout,
              bidirectional=bidirectional, dtype=torch.float64)
    if kind == "lstm":
        ref, loop = nn.LSTM(I, H, **kw), torch_ref.LoopLSTM(I, H, **kw)
    elif kind == "gru":
        ref, loop = nn.GRU(I, H, **kw), torch_ref.LoopGRU(I, H, **kw)
    else:
        ref = nn.RNN(I, H, nonlinearity=kind, **kw)
        loop = torch_ref.LoopRNN(I, H, nonlinearity=kind, **kw)
    loop.load_state_dict(ref.state_dict())
    return ref, loop


def run_with_grads(module, x, hx, upstream):
    """Returns (outputs, grads): outputs flattened to a tuple; grads of every parameter, x and hx.

    The loss contracts every output with its random upstream gradient.
    """
    out, state = module(x, hx)
    outputs = (out,) + (tuple(state) if isinstance(state, tuple) else (state,))
    loss = sum((o * g).sum() for o, g in zip(outputs, upstream))
    leaves = [x] + ([] if hx is None else list(hx) if isinstance(hx, tuple) else [hx])
    names = [n for n, _ in module.named_parameters()]
    grads = torch.autograd.grad(loss, [p for _, p in module.named_parameters()] + leaves)
    return outputs, dict(zip(names + [f"input{i}" for i in range(len(leaves))], grads))


def inputs(kind, num_layers, bidirectional, batch_first, with_hx, batched=True, contiguous=True):
    """Returns (x, hx) float64 leaves requiring grad; hx None, a tensor, or (h0, c0)."""
    D = 2 if bidirectional else 1
    lead = ((N, T) if batch_first else (T, N)) if batched else (T,)
    if contiguous:
        x = torch.randn(*lead, I, dtype=torch.float64)
    else:  # a transposed view: same shape, non-contiguous memory
        x = torch.randn(I, *lead, dtype=torch.float64).movedim(0, -1)
        assert not x.is_contiguous()
    x.requires_grad_()
    if not with_hx:
        return x, None
    shape = (num_layers * D, N, H) if batched else (num_layers * D, H)
    h0 = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    if kind != "lstm":
        return x, h0
    c0 = torch.randn(shape, dtype=torch.float64, requires_grad=True)  # distinct from h0
    return x, (h0, c0)


def compare(kind, num_layers, bidirectional, batch_first, with_hx, batched=True,
            contiguous=True, bias=True):
    torch.manual_seed(1234)
    ref, loop = make_pair(kind, num_layers, bidirectional, batch_first, bias=bias)
    x, hx = inputs(kind, num_layers, bidirectional, batch_first, with_hx, batched, contiguous)
    D = 2 if bidirectional else 1
    out_shape = (((N, T) if batch_first else (T, N)) if batched else (T,)) + (D * H,)
    state_shape = (num_layers * D, N, H) if batched else (num_layers * D, H)
    n_out = 3 if kind == "lstm" else 2
    upstream = [torch.randn(out_shape, dtype=torch.float64)]
    upstream += [torch.randn(state_shape, dtype=torch.float64) for _ in range(n_out - 1)]

    ref_out, ref_grads = run_with_grads(ref, x, hx, upstream)
    loop_out, loop_grads = run_with_grads(loop, x, hx, upstream)

    assert [tuple(o.shape) for o in loop_out] == [out_shape] + [state_shape] * (n_out - 1)
    for name, a, b in zip(("out", "h_n", "c_n"), loop_out, ref_out):
        close(a, b, name)
    assert set(loop_grads) == set(ref_grads)
    for name in ref_grads:
        close(loop_grads[name], ref_grads[name], f"grad {name}")


@pytest.mark.parametrize(
    "kind,num_layers,bidirectional,batch_first,with_hx",
    list(itertools.product(["lstm", "gru", "tanh", "relu"], [1, 2], [False, True], [False, True],
                           [False, True])))
def test_loop_matches_torch(kind, num_layers, bidirectional, batch_first, with_hx):
    compare(kind, num_layers, bidirectional, batch_first, with_hx)


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh", "relu"])
@pytest.mark.parametrize("with_hx", [False, True])
def test_loop_matches_torch_unbatched(kind, with_hx):
    compare(kind, 2, True, False, with_hx, batched=False)


@pytest.mark.parametrize("kind", ["lstm", "tanh"])
def test_loop_matches_torch_non_contiguous_and_no_bias(kind):
    compare(kind, 2, True, True, True, contiguous=False)
    compare(kind, 2, False, False, True, bias=False)


def test_loop_biases_are_distinct_and_nonzero():
    # The comparisons above would miss a swapped or dropped bias otherwise.
    ref, loop = make_pair("lstm", 2, True, False)
    sd = loop.state_dict()
    for k in range(2):
        for sfx in ("", "_reverse"):
            b_ih, b_hh = sd[f"bias_ih_l{k}{sfx}"], sd[f"bias_hh_l{k}{sfx}"]
            assert (b_ih != 0).all() and (b_hh != 0).all() and not torch.equal(b_ih, b_hh)


@pytest.mark.parametrize("kind", ["lstm", "tanh"])
def test_loop_parameters_names_shapes_and_init_match_torch(kind):
    kw = dict(num_layers=2, bidirectional=True, dtype=torch.float64)
    torch.manual_seed(7)
    ref = nn.LSTM(I, H, **kw) if kind == "lstm" else nn.RNN(I, H, **kw)
    torch.manual_seed(7)
    loop = torch_ref.LoopLSTM(I, H, **kw) if kind == "lstm" else torch_ref.LoopRNN(I, H, **kw)
    ref_sd, loop_sd = ref.state_dict(), loop.state_dict()
    assert list(loop_sd) == list(ref_sd)  # same names in the same order
    for name in ref_sd:
        assert loop_sd[name].shape == ref_sd[name].shape, name
        assert torch.equal(loop_sd[name], ref_sd[name]), name  # same draws from the same seed


@pytest.mark.parametrize("kind", ["lstm", "tanh"])
def test_loop_dropout_matches_torch_on_cpu(kind):
    # Training-mode dropout between layers draws the same masks as torch's CPU kernel.
    torch.manual_seed(0)
    ref, loop = make_pair(kind, 3, True, False, dropout=0.5)
    x = torch.randn(T, N, I, dtype=torch.float64)
    torch.manual_seed(99)
    ref_out = ref(x)[0]
    torch.manual_seed(99)
    loop_out = loop(x)[0]
    close(loop_out, ref_out, "train-mode output")
    # the masks really acted: a second draw differs, and eval mode matches the no-dropout path
    torch.manual_seed(100)
    assert not torch.allclose(loop(x)[0], loop_out)
    ref.eval(), loop.eval()
    close(loop(x)[0], ref(x)[0], "eval-mode output")
    assert not torch.allclose(loop(x)[0], loop_out)


def test_loop_rejects_bad_arguments():
    with pytest.raises(ValueError, match="nonlinearity"):
        torch_ref.LoopRNN(I, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        torch_ref.LoopLSTM(I, H, num_layers=2, dropout=1.5)
    with pytest.warns(UserWarning, match="num_layers=1"):
        torch_ref.LoopLSTM(I, H, dropout=0.2)
    lstm = torch_ref.LoopLSTM(I, H, num_layers=2)
    with pytest.raises(ValueError, match=r"expected input with 4 features.*\(5, 3, 7\)"):
        lstm(torch.zeros(T, N, 7))
    with pytest.raises(ValueError, match=r"expected initial state of shape \(2, 3, 6\)"):
        lstm(torch.zeros(T, N, I), (torch.zeros(1, N, H), torch.zeros(1, N, H)))


def test_cells_are_the_documented_equations():
    torch.manual_seed(3)
    x, h, c = torch.randn(N, I), torch.randn(N, H), torch.randn(N, H)
    cell = nn.LSTMCell(I, H, dtype=torch.float64)
    cell_rnn = nn.RNNCell(I, H, nonlinearity="relu", dtype=torch.float64)
    x, h, c = x.double(), h.double(), c.double()
    h1, c1 = torch_ref.lstm_cell(x, (h, c), cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    h_ref, c_ref = cell(x, (h, c))
    close(h1, h_ref, "lstm h")
    close(c1, c_ref, "lstm c")
    r = torch_ref.rnn_cell(x, h, cell_rnn.weight_ih, cell_rnn.weight_hh, cell_rnn.bias_ih,
                           cell_rnn.bias_hh, "relu")
    close(r, cell_rnn(x, h), "rnn relu h")


# --- helpers that need no scratchrnn ----------------------------------------------------

def test_default_device_and_array_helpers():
    assert torch_ref.default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    a = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::-1]  # negative strides
    t = torch_ref.as_tensor(a, device="cpu")
    assert t.dtype == torch.float64 and t.device.type == "cpu"
    np.testing.assert_array_equal(torch_ref.as_numpy(t), a)
    t32 = torch_ref.as_tensor(a.astype(np.float32))
    assert t32.dtype == torch.float32
    assert t32.device.type == torch_ref.default_device()
    back = torch_ref.as_numpy(t32.requires_grad_())
    assert isinstance(back, np.ndarray) and back.dtype == np.float32


def test_to_scratch_rejects_other_modules():
    with pytest.raises(TypeError, match="Linear"):
        torch_ref.to_scratch(nn.Linear(2, 3))


# --- scratchrnn <-> torch ----------------------------------------------------------------

CONFIGS = [  # (name, args, kwargs) valid for scratchrnn, torch_ref and nn alike
    ("LSTM", (3, 5), dict(num_layers=2, bidirectional=True)),
    ("LSTM", (4, 2), dict(batch_first=True, bias=False, dtype=np.float64)),
    ("RNN", (3, 5), dict(num_layers=2, nonlinearity="relu", bidirectional=True,
                         dtype=np.float64)),
    ("RNN", (2, 4), dict(batch_first=True, dropout=0.25, num_layers=3)),
    ("RNNCell", (3, 5), dict(nonlinearity="relu")),
    ("RNNCell", (3, 5), dict(bias=False, dtype=np.float64)),
    ("LSTMCell", (3, 5), dict()),
    ("GRU", (3, 5), dict(num_layers=2, bidirectional=True, dtype=np.float64)),
    ("GRU", (2, 4), dict(batch_first=True, bias=False)),
    ("GRUCell", (3, 5), dict(bias=False, dtype=np.float64)),
    ("LSTMCell", (3, 5), dict(dtype=torch.float64)),  # torch dtypes are accepted too
]
CONFIG_IDS = [f"{n}-{i}" for i, (n, _, _) in enumerate(CONFIGS)]
FIELDS = {
    "RNN": ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first",
            "dropout", "bidirectional"),
    "LSTM": ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
             "bidirectional", "proj_size"),
    "RNNCell": ("input_size", "hidden_size", "bias", "nonlinearity"),
    "LSTMCell": ("input_size", "hidden_size", "bias"),
    "GRU": ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
            "bidirectional"),
    "GRUCell": ("input_size", "hidden_size", "bias"),
}


def expected_dtype(kwargs):
    d = kwargs.get("dtype", np.float32)
    return np.float64 if d in (np.float64, torch.float64) else np.float32


def assert_same_state(sr_state, torch_module, dtype):
    t_state = {k: torch_ref.as_numpy(v) for k, v in torch_module.state_dict().items()}
    assert set(sr_state) == set(t_state), (sorted(sr_state), sorted(t_state))
    for name, value in sr_state.items():
        assert t_state[name].dtype == dtype, (name, t_state[name].dtype)
        np.testing.assert_array_equal(t_state[name], value, err_msg=name)


def scratch_kwargs(kwargs):
    dt = expected_dtype(kwargs)
    return {**kwargs, "dtype": dt}


@pytest.mark.parametrize("name,args,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_constructors_match_scratchrnn_from_same_seed(name, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nn warns on dropout with few layers
        t = getattr(torch_ref, name)(*args, **kwargs, seed=11)
        s = getattr(sr, name)(*args, **scratch_kwargs(kwargs), seed=11)
        other = getattr(torch_ref, name)(*args, **kwargs, seed=12)
    torch_cls = getattr(nn, name)
    assert type(t) is torch_cls
    assert all(p.device.type == torch_ref.default_device() for p in t.parameters())
    assert_same_state(s.state_dict(), t, expected_dtype(kwargs))
    # another seed gives other weights, so the equality above is not vacuous
    assert not np.array_equal(torch_ref.as_numpy(other.weight_hh_l0 if hasattr(other, "weight_hh_l0")
                                                 else other.weight_hh),
                              torch_ref.as_numpy(t.weight_hh_l0 if hasattr(t, "weight_hh_l0")
                                                 else t.weight_hh))
    for f in FIELDS[name]:
        if f == "proj_size":
            assert t.proj_size == 0
        elif f in kwargs:
            assert getattr(t, f) == kwargs[f], f


def test_constructor_places_on_requested_device():
    t = torch_ref.LSTM(3, 4, seed=0, device="cpu")
    assert {p.device.type for p in t.parameters()} == {"cpu"}


@pytest.mark.parametrize("name,args,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_round_trip_scratch_torch_scratch(name, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s = getattr(sr, name)(*args, **scratch_kwargs(kwargs), seed=5)
        t = torch_ref.to_torch(s)
    assert type(t) is getattr(nn, name)
    assert all(p.device.type == torch_ref.default_device() for p in t.parameters())
    assert_same_state(s.state_dict(), t, expected_dtype(kwargs))
    back = torch_ref.to_scratch(t)
    assert type(back) is type(s)
    for f in FIELDS[name]:
        assert getattr(back, f) == getattr(s, f) == getattr(t, f), f
    assert np.dtype(back.dtype) == expected_dtype(kwargs)
    s_state, b_state = s.state_dict(), back.state_dict()
    assert set(b_state) == set(s_state)
    for k in s_state:
        assert b_state[k].dtype == s_state[k].dtype, k
        np.testing.assert_array_equal(b_state[k], s_state[k], err_msg=k)


@pytest.mark.parametrize("loop", [False, True])
def test_to_scratch_from_torch_initialised_module(loop):
    torch.manual_seed(4)
    cls = torch_ref.LoopLSTM if loop else nn.LSTM
    t = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    s = torch_ref.to_scratch(t)
    assert isinstance(s, sr.LSTM)
    assert (s.num_layers, s.bidirectional, s.batch_first, s.hidden_size) == (2, True, True, 4)
    assert np.dtype(s.dtype) == np.float64
    assert_same_state(s.state_dict(), t, np.float64)
    # and back: a fresh nn.LSTM with the same numbers
    t2 = torch_ref.to_torch(s, device="cpu")
    assert type(t2) is nn.LSTM
    for k, v in t.state_dict().items():
        assert torch.equal(t2.state_dict()[k], v), k


def test_to_torch_rejects_other_objects():
    with pytest.raises(TypeError, match="scratchrnn"):
        torch_ref.to_torch(object())


def test_to_scratch_keeps_proj_size():
    """sr.LSTM has torch's proj_size, so the converter must carry it (not refuse it), both ways."""
    torch.manual_seed(2)
    t = nn.LSTM(3, 4, num_layers=2, proj_size=2, dtype=torch.float64)
    s = torch_ref.to_scratch(t)
    assert isinstance(s, sr.LSTM) and s.proj_size == 2
    assert_same_state(s.state_dict(), t, np.float64)          # weight_hr_l0, weight_hr_l1 included
    x = np.random.default_rng(0).standard_normal((5, 3, 3))
    out, (h_n, c_n) = s(x)
    t_out, (t_h, t_c) = t(torch.from_numpy(x))
    assert out.shape == (5, 3, 2) and h_n.shape == (2, 3, 2) and c_n.shape == (2, 3, 4)
    for a, b, what in ((out, t_out, "out"), (h_n, t_h, "h_n"), (c_n, t_c, "c_n")):
        close(torch.from_numpy(a), b.detach(), what)
    back = torch_ref.to_torch(s, device="cpu")
    assert type(back) is nn.LSTM and back.proj_size == 2
    for k, v in t.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
