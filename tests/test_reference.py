"""The readable path (``scratchrnn.reference``) against the fast path and against torch.

Every reference line cites its equation; these tests check (R1)–(R8), (L1)–(L11), (P1)–(P3),
(G1)–(G10), (S1)–(S5), (V1) and (V2) by comparing every output and every gradient:
- with ``scratchrnn.functional`` (the Numba kernels), one layer and one direction;
- with torch (``pack_padded_sequence`` for variable lengths), one layer and stacked
  bidirectional ones, and inter-layer dropout with a mask both sides share.

Bound, float64: ``max|a − b| ≤ TOL · max|b|`` per array, TOL = 1e-12. Both sides evaluate
the same formulas in float64; they differ only in summation order (per-step products here,
one GEMM over all T·N rows in the fast path, BLAS blocking, FMA contraction). At these sizes
(T ≤ 6, N = 4, I, H ≤ 5) the differences measured stay near 1e-15, so 1e-12 leaves a margin
of about 1000 for rounding while any wrong term of an equation shows up above 1e-3
(``test_unmasked_p3_is_caught`` shows one such error).
"""

import numpy as np
import pytest

from scratchrnn import functional as F
from scratchrnn import reference as ref

TOL = 1e-12
T, N, I, H = 6, 4, 3, 5
LENGTHS = np.array([6, 2, 5, 1])                 # unsorted, one full, one of length 1
MODELS = ["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"]
CASES = [(m, bias, lengths) for m in MODELS for bias in (True, False) for lengths in (None, LENGTHS)]
IDS = [f"{m}-{'bias' if b else 'nobias'}-{'lengths' if ln is not None else 'full'}" for m, b, ln in CASES]


def assert_close(ours, theirs, name):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} vs {theirs.shape}"
    err = np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), np.finfo(np.float64).tiny)
    assert err <= TOL, f"{name}: max-norm relative error {err:.3g} > {TOL:g}"


def gates(model):
    return {"lstm": 4, "lstm_proj": 4, "gru": 3}.get(model, 1)


def layer_params(model, bias, rng, I=I):
    """Weights of one layer: w_ih, w_hh, b_ih, b_hh (distinct and non-zero), w_hr."""
    G, P = gates(model), (H // 2 if model == "lstm_proj" else H)
    p = {"w_ih": rng.uniform(-1, 1, (G * H, I)), "w_hh": rng.uniform(-1, 1, (G * H, P)),
         "b_ih": rng.uniform(-1, 1, G * H) if bias else None, "b_hh": rng.uniform(-1, 1, G * H) if bias else None}
    p["w_hr"] = rng.uniform(-1, 1, (P, H)) if model == "lstm_proj" else None
    return p


def run_layer(impl, model, p, x, states, ups, lengths):
    """Forward and backward of one layer with ``impl`` (reference or functional): name -> array."""
    args = (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    if model.startswith("lstm"):
        out, h_fin, c_fin, cache = impl.lstm_forward(x, *states, *args, w_hr=p["w_hr"], lengths=lengths)
        g = impl.lstm_backward(ups[0], ups[1], ups[2], cache)
        res = {"out": out, "h_fin": h_fin, "c_fin": c_fin, "dc0": g.dc0, "dw_hr": g.dw_hr}
    else:
        fwd, bwd = ((impl.gru_forward, impl.gru_backward) if model == "gru"
                    else (impl.rnn_forward, impl.rnn_backward))
        kw = {} if model == "gru" else {"nonlinearity": model.split("_")[1]}
        out, h_fin, cache = fwd(x, *states, *args, lengths=lengths, **kw)
        g = bwd(ups[0], ups[1], cache)
        res = {"out": out, "h_fin": h_fin}
    res.update(dx=g.dx, dh0=g.dh0, dh=g.dh, dw_ih=g.dw_ih, dw_hh=g.dw_hh, db_ih=g.db_ih, db_hh=g.db_hh)
    return {k: v for k, v in res.items() if v is not None}


def layer_inputs(model, rng):
    P = H // 2 if model == "lstm_proj" else H
    x = rng.standard_normal((T, N, I))                             # the padding is random too
    states = (rng.standard_normal((N, P)),) + ((rng.standard_normal((N, H)),) if model.startswith("lstm") else ())
    ups = (rng.standard_normal((T, N, P)),) + tuple(rng.standard_normal(s.shape) for s in states)
    return x, states, ups


@pytest.mark.parametrize("model, bias, lengths", CASES, ids=IDS)
def test_layer_matches_fast_kernels(model, bias, lengths):
    """(R1)–(R8), (L1)–(L11), (P1)–(P3), (G1)–(G10), (V1), (V2): reference = functional."""
    rng = np.random.default_rng(5)
    p = layer_params(model, bias, rng)
    x, states, ups = layer_inputs(model, rng)
    ours = run_layer(ref, model, p, x, states, ups, lengths)
    fast = run_layer(F, model, p, x, states, ups, lengths)
    assert ours.keys() == fast.keys()
    for name in fast:
        assert_close(ours[name], fast[name], name)


def torch_layer(model, p, torch):
    """A one-layer torch module holding the weights ``p``."""
    kw = dict(bias=p["b_ih"] is not None, dtype=torch.float64)
    if model.startswith("lstm"):
        tm = torch.nn.LSTM(I, H, proj_size=H // 2 if p["w_hr"] is not None else 0, **kw)
    elif model == "gru":
        tm = torch.nn.GRU(I, H, **kw)
    else:
        tm = torch.nn.RNN(I, H, nonlinearity=model.split("_")[1], **kw)
    names = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0",
             "w_hr": "weight_hr_l0"}
    tm.load_state_dict({names[k]: torch.tensor(v) for k, v in p.items() if v is not None})
    return tm


def torch_run(tm, x, states, ups, lengths, torch):
    """Forward and backward in torch: (outputs, input and state gradients); parameters' .grad set."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    tx = torch.tensor(x, requires_grad=True)
    ts = [torch.tensor(s[None] if s.ndim == 2 else s, requires_grad=True) for s in states]   # (D·K, N, ·)
    inp = tx if lengths is None else pack_padded_sequence(tx, torch.tensor(lengths), enforce_sorted=False)
    t_out, t_fin = tm(inp, tuple(ts) if len(ts) == 2 else ts[0])
    if lengths is not None:
        t_out, _ = pad_packed_sequence(t_out, total_length=x.shape[0])
    t_fin = t_fin if isinstance(t_fin, tuple) else (t_fin,)
    sum((t * torch.tensor(u)).sum() for t, u in zip((t_out,) + t_fin, ups)).backward()
    squeeze = states[0].ndim == 2                                  # one layer: (N, ·) states
    outs = [t.detach().numpy() for t in (t_out,) + t_fin]
    outs = outs[:1] + [o[0] for o in outs[1:]] if squeeze else outs
    return outs, [tx.grad.numpy()] + [s.grad.numpy()[0] if squeeze else s.grad.numpy() for s in ts]


@pytest.mark.parametrize("model, bias, lengths", CASES, ids=IDS)
def test_layer_matches_torch(model, bias, lengths):
    """(R1)–(R8), (L1)–(L11), (P1)–(P3), (G1)–(G10), (V1), (V2): reference = torch.nn.*."""
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    rng = np.random.default_rng(6)
    p = layer_params(model, bias, rng)
    x, states, ups = layer_inputs(model, rng)
    ours = run_layer(ref, model, p, x, states, ups, lengths)
    tm = torch_layer(model, p, torch)
    outs, grads = torch_run(tm, x, states, ups, lengths, torch)
    lstm = model.startswith("lstm")
    for name, t in zip(["out", "h_fin", "c_fin"] if lstm else ["out", "h_fin"], outs):
        assert_close(ours[name], t, name)
    for name, t in zip(["dx", "dh0", "dc0"] if lstm else ["dx", "dh0"], grads):
        assert_close(ours[name], t, name)
    names = {"weight_ih_l0": "dw_ih", "weight_hh_l0": "dw_hh", "bias_ih_l0": "db_ih", "bias_hh_l0": "db_hh",
             "weight_hr_l0": "dw_hr"}
    for k, tp in tm.named_parameters():
        assert_close(ours[names[k]], tp.grad.numpy(), k)


STACK_MODELS = ["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"]


def stack_setup(model, rng, K=2, D=2):
    """A torch-style state_dict for K layers in D directions, states, input and upstream grads."""
    P = H // 2 if model == "lstm_proj" else H
    params = {}
    for k in range(K):
        for d in range(D):
            p = layer_params(model, True, rng, I=I if k == 0 else D * P)
            sfx = f"_l{k}" + ("_reverse" if d else "")
            params.update({("weight" if w[0] == "w" else "bias") + w[1:] + sfx: v for w, v in p.items() if v is not None})
    lstm = model.startswith("lstm")
    x = rng.standard_normal((T, N, I))
    states = (rng.standard_normal((D * K, N, P)),) + ((rng.standard_normal((D * K, N, H)),) if lstm else ())
    ups = (rng.standard_normal((T, N, D * P)),) + tuple(rng.standard_normal(s.shape) for s in states)
    return params, x, states, ups


def kind_of(model):
    return "lstm" if model.startswith("lstm") else model


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("model", STACK_MODELS)
def test_stack_matches_torch(model, lengths):
    """(S1), (S2), (S3), (S5) with (V1), (V2): two bidirectional layers = torch, every gradient."""
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    rng = np.random.default_rng(7)
    params, x, states, ups = stack_setup(model, rng)
    out, finals, cache = ref.stack_forward(kind_of(model), params, x, states, lengths)
    dx, d_starts, grads = ref.stack_backward(ups[0], ups[1:], cache)
    kw = dict(num_layers=2, bidirectional=True, dtype=torch.float64)
    if model.startswith("lstm"):
        tm = torch.nn.LSTM(I, H, proj_size=H // 2 if model == "lstm_proj" else 0, **kw)
    elif model == "gru":
        tm = torch.nn.GRU(I, H, **kw)
    else:
        tm = torch.nn.RNN(I, H, nonlinearity=model.split("_")[1], **kw)
    tm.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    outs, t_grads = torch_run(tm, x, states, ups, lengths, torch)
    for name, a, t in zip(["out", "h_fin", "c_fin"], (out,) + finals, outs):
        assert_close(a, t, name)
    # (S5): the last layer's reverse final state is out[0]'s reverse half, its forward one
    # out[ℓ_s - 1]'s forward half, whatever the lengths; out[-1] is neither in general
    P = out.shape[2] // 2
    ends = np.full(N, T) if lengths is None else lengths
    assert_close(finals[0][3], out[0, :, P:], "h_fin reverse vs out[0]")
    assert_close(finals[0][2], out[ends - 1, np.arange(N), :P], "h_fin forward vs out[ℓ_s - 1]")
    for name, a, t in zip(["dx", "dh0", "dc0"], (dx,) + d_starts, t_grads):
        assert_close(a, t, name)
    assert grads.keys() == dict(tm.named_parameters()).keys()
    for k, tp in tm.named_parameters():
        assert_close(grads[k], tp.grad.numpy(), k)


def test_stack_dropout_matches_torch_layers():
    """(S4), (S1): dropout between two layers, with one mask m/(1-p) given to both sides.

    torch draws its own masks, so the torch side is built from two one-layer torch modules
    with the same mask multiplied in between.
    """
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    rng = np.random.default_rng(8)
    params, x, states, ups = stack_setup("lstm", rng)
    p_drop = 0.4
    mask = (rng.random((T, N, 2 * H)) >= p_drop) / (1 - p_drop)   # (T, N, D·H) kept / (1 − p)
    assert 0 < mask.mean() and np.any(mask == 0)
    out, finals, cache = ref.stack_forward("lstm", params, x, states, LENGTHS, masks=[mask])
    dx, d_starts, grads = ref.stack_backward(ups[0], ups[1:], cache)

    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    layers = []
    for k in range(2):
        tm = torch.nn.LSTM(I if k == 0 else 2 * H, H, bidirectional=True, dtype=torch.float64)
        tm.load_state_dict({name.replace(f"_l{k}", "_l0"): torch.tensor(v) for name, v in params.items()
                            if f"_l{k}" in name})
        layers.append(tm)
    tx = torch.tensor(x, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states]
    lens = torch.tensor(LENGTHS)
    h, fins = tx, []
    for k, tm in enumerate(layers):
        o, (h_k, c_k) = tm(pack_padded_sequence(h, lens, enforce_sorted=False), (ts[0][2 * k:2 * k + 2], ts[1][2 * k:2 * k + 2]))
        h, _ = pad_packed_sequence(o, total_length=T)
        h = h * torch.tensor(mask) if k == 0 else h
        fins.append((h_k, c_k))
    t_finals = [torch.cat([f[i] for f in fins]) for i in range(2)]
    loss = (h * torch.tensor(ups[0])).sum() + sum((f * torch.tensor(u)).sum() for f, u in zip(t_finals, ups[1:]))
    loss.backward()
    assert_close(out, h.detach().numpy(), "out")
    for a, t, name in zip(finals, t_finals, ["h_fin", "c_fin"]):
        assert_close(a, t.detach().numpy(), name)
    assert_close(dx, tx.grad.numpy(), "dx")
    for a, t, name in zip(d_starts, ts, ["dh0", "dc0"]):
        assert_close(a, t.grad.numpy(), name)
    for k, tm in enumerate(layers):
        for name, tp in tm.named_parameters():
            assert_close(grads[name.replace("_l0", f"_l{k}")], tp.grad.numpy(), name)


def test_unmasked_p3_is_caught():
    """(P3) under (V2) read literally, Σ over all t of dh_tᵀ m_t, gives a wrong dW_hr: the check sees it.

    At padded steps dh_t = δ_t is non-zero (it passes through (V2)) and m_t was computed for the
    whole batch, but h_t was a copy of h_{t-1}, not m_t W_hrᵀ; those terms must be left out.
    """
    rng = np.random.default_rng(6)
    p = layer_params("lstm_proj", True, rng)
    x, states, ups = layer_inputs("lstm_proj", rng)
    out, h_fin, c_fin, cache = ref.lstm_forward(x, *states, p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                                w_hr=p["w_hr"], lengths=LENGTHS)
    g = ref.lstm_backward(*ups, cache)
    fast = run_layer(F, "lstm_proj", p, x, states, ups, LENGTHS)
    assert_close(g.dw_hr, fast["dw_hr"], "dw_hr")
    unmasked = sum(g.dh[t].T @ cache.m[t] for t in range(T))      # (P, H) every step, padded ones too
    err = np.max(np.abs(unmasked - fast["dw_hr"])) / np.max(np.abs(fast["dw_hr"]))
    assert err > 1e-3, f"the unmasked sum should be visibly wrong, relative error {err:.3g}"
