"""Preconditions torch enforces and scratchrnn matches: in-place changes, repeated parameters.

- A backward whose forward saved an array that has changed in place since raises
  RuntimeError, as torch's version counter does ("modified by an inplace operation").
- A parameter listed twice: the optimizers warn as torch.optim does and take the same steps
  as torch's CPU loop; clip_grad_norm counts and scales it twice, as clip_grad_norm_ does.
"""

import warnings

import numpy as np
import pytest

import scratchrnn as sr


def _model(kind, **kw):
    cls = {"rnn": sr.RNN, "lstm": sr.LSTM, "gru": sr.GRU}[kind]
    return cls(3, 4, dtype=np.float64, seed=0, **kw)


def _run(m, x):
    out, fin = m(x)
    return out, np.random.default_rng(1).standard_normal(out.shape)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("change", ["optimizer step", "load_state_dict", "input scaled", "input row"])
def test_backward_after_an_in_place_change_raises(kind, change):
    m = _model(kind, num_layers=2)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out, d_out = _run(m, x)
    if change == "optimizer step":
        m.grads["weight_hh_l1"][...] = 1.0
        sr.SGD(m, lr=0.1).step()
    elif change == "load_state_dict":
        m.load_state_dict({k: v * 0.5 for k, v in m.state_dict().items()})
    elif change == "input scaled":
        x *= 2
    else:
        x[2] = 0.0                                   # one time step overwritten
    with pytest.raises(RuntimeError, match="modified in place"):
        m.backward(d_out)
    assert not any(g.any() for k, g in m.grads.items() if k != "weight_hh_l1")   # nothing accumulated
    out2, _ = m(x)                                   # a fresh forward makes backward valid again
    m.backward(d_out)


def test_cells_and_unchanged_forward_still_work():
    cell = sr.LSTMCell(3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3))
    h, c = cell(x)
    cell.backward((np.ones_like(h), None))           # unchanged: fine
    h, c = cell(x)
    h[...] = 0                                       # the returned copy is the caller's to scribble on
    cell.backward((np.ones_like(h), None))
    cell.generator = np.random.default_rng(3)        # not a saved array
    cell.backward((np.ones_like(h), None))
    cell.load_state_dict({k: v + 1 for k, v in cell.state_dict().items()})
    with pytest.raises(RuntimeError, match="weight|w_ih|w_hh"):
        cell.backward((np.ones_like(h), None))


def test_torch_raises_in_the_same_situation():
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    lstm = torch.nn.LSTM(3, 4)
    out, _ = lstm(torch.randn(5, 2, 3))
    with torch.no_grad():
        lstm.weight_hh_l0.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


# ---------------------------------------------------------------- repeated parameters

def _pair(seed=0):
    lin, head = sr.Linear(3, 2, dtype=np.float64, seed=seed), sr.Linear(2, 2, dtype=np.float64, seed=seed + 1)
    return lin, head


def _torch_params(torch, m):
    return [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in m.state_dict().values()]


@pytest.mark.parametrize("make", [
    lambda sr_mods, lr: sr.SGD(sr_mods, lr),
    lambda sr_mods, lr: sr.SGD(sr_mods, lr, momentum=0.9, weight_decay=0.1),
    lambda sr_mods, lr: sr.Adam(sr_mods, lr),
    lambda sr_mods, lr: sr.Adam(sr_mods, lr, weight_decay=0.1),
], ids=["sgd", "sgd-momentum-decay", "adam", "adam-decay"])
def test_optimizers_on_a_repeated_module_match_torch(make):
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    lin, head = _pair()
    tl, th = _torch_params(torch, lin), _torch_params(torch, head)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt = make([lin, head, lin], 0.1)
    probe = make(sr.Linear(1, 1), 0.1)               # which torch class and settings to build
    kw = dict(lr=0.1, weight_decay=getattr(probe, "weight_decay", 0.0))
    if isinstance(probe, sr.SGD):
        tcls, kw["momentum"] = torch.optim.SGD, probe.momentum
    else:
        tcls = torch.optim.Adam
    with pytest.warns(UserWarning, match="duplicate parameters"):
        topt = tcls(tl + th + tl, foreach=False, **kw)          # torch's CPU default: the per-parameter loop
    rng = np.random.default_rng(5)
    for _ in range(4):
        for m, tp in ((lin, tl), (head, th)):
            for g, t in zip(m.grads.values(), tp):
                g[...] = rng.standard_normal(g.shape)
                t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for m, tp in ((lin, tl), (head, th)):
        for (k, v), t in zip(m.state_dict().items(), tp):
            # float64, same operations in the same order
            np.testing.assert_allclose(v, t.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=k)


def test_no_warning_without_repeats():
    lin, head = _pair()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sr.SGD([lin, head], 0.1)
        sr.Adam([lin, head])
        sr.clip_grad_norm([lin, head], 1.0)


def test_clip_grad_norm_counts_a_repeat_twice_like_torch():
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    lin, head = _pair()
    rng = np.random.default_rng(2)
    for m in (lin, head):
        for g in m.grads.values():
            g[...] = rng.standard_normal(g.shape)
    tl, th = _torch_params(torch, lin), _torch_params(torch, head)
    for m, tp in ((lin, tl), (head, th)):
        for g, t in zip(m.grads.values(), tp):
            t.grad = torch.from_numpy(g.copy())
    with pytest.warns(UserWarning, match="counts its gradient twice"):
        total = sr.clip_grad_norm([lin, head, lin], 0.5)
    t_total = torch.nn.utils.clip_grad_norm_(tl + th + tl, 0.5)
    np.testing.assert_allclose(total, float(t_total), rtol=1e-12)
    for m, tp in ((lin, tl), (head, th)):
        for (k, g), t in zip(m.grads.items(), tp):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, err_msg=k)
