"""one_hot, Linear, losses, clipping and optimizers against their torch counterparts
(tests taking the ``torch`` fixture), and their refusals of bad input (no torch needed)."""

import numpy as np
import pytest

import scratchrnn as sr
from scratchrnn import reference

from tolerances import EPS32, F64_FORMULA, F64_TRAJECTORY, product_bound


def test_one_hot_matches_torch(torch):
    idx = np.array([[0, 3, 1], [2, 2, 4]])
    ours = sr.one_hot(idx, 5)
    assert ours.shape == (2, 3, 5) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, torch.nn.functional.one_hot(torch.tensor(idx), 5).numpy())


def test_one_hot_and_losses_refuse_bad_input():
    with pytest.raises(ValueError, match="index 5 is out of range"):
        sr.one_hot(np.array([1, 5]), 5)
    with pytest.raises(TypeError, match="integer"):
        sr.one_hot(np.array([1.0]), 5)
    logits, targets = np.zeros((6, 4)), np.array([2, 0, 3, 3, 1, 0])
    with pytest.raises(ValueError, match="target 4 is out of range for 4 classes"):
        sr.cross_entropy(logits, np.array([0, 1, 2, 3, 4, 0]))
    with pytest.raises(ValueError, match=r"expected targets of shape \(6,\), got \(5,\)"):
        sr.cross_entropy(logits, targets[:5])
    pred, target = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"expected target of shape \(3, 4\), got \(4, 3\)"):
        sr.mse_loss(pred, target.T.copy())


@pytest.mark.parametrize("lead", [(6,), (4, 3), (2, 3, 2)])
def test_linear_matches_torch(torch, lead):
    rng = np.random.default_rng(0)
    m = sr.Linear(5, 7, dtype=np.float64, seed=1)
    tm = torch.nn.Linear(5, 7, dtype=torch.float64)
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = rng.standard_normal(lead + (5,))
    dy = rng.standard_normal(lead + (7,))
    y = m(x)
    dx = m.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), **F64_FORMULA)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **F64_FORMULA)
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(m.grads[k], p.grad.numpy(), **F64_FORMULA)
    assert np.all(np.abs(m.state_dict()["weight"]) <= 1 / np.sqrt(5))


def test_linear_in_row_blocks_matches_torch(torch, two_threads):
    """Enough rows and work for Linear's GEMMs to run in row blocks on two threads (checked)."""
    from scratchrnn.kernels import team
    M, I, O = 2048, 64, 128
    assert team.gemm_blocks(M, I, O) == 2, "this case no longer runs in blocks: pick a bigger one"
    rng = np.random.default_rng(0)
    m = sr.Linear(I, O, dtype=np.float64, seed=1)
    x, dy = rng.standard_normal((64, M // 64, I)), rng.standard_normal((64, M // 64, O))
    y = m(x)
    dx = m.backward(dy)
    tm = torch.nn.Linear(I, O, dtype=torch.float64)
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    ty.backward(torch.tensor(dy))
    # Sums of up to 2,048 products (dW: two blocks' partial sums, then added), each side in
    # its own order: Higham's bound on the two sides' difference, which holds for any order
    x2, dy2, w = x.reshape(M, I), dy.reshape(M, O), m.state_dict()["weight"]
    assert np.all(np.abs(y.reshape(M, O) - ty.detach().numpy().reshape(M, O))
                  <= product_bound(x2, w.T, m.state_dict()["bias"]))
    assert np.all(np.abs(dx.reshape(M, I) - tx.grad.numpy().reshape(M, I)) <= product_bound(dy2, w))
    assert np.all(np.abs(m.grads["weight"] - tm.weight.grad.numpy()) <= product_bound(dy2.T, x2))
    assert np.all(np.abs(m.grads["bias"] - tm.bias.grad.numpy()) <= product_bound(np.ones((1, M)), dy2)[0])


def test_cross_entropy_matches_torch_and_is_stable(torch):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4)) * 3
    logits[0, 2] = 1e4                                   # would overflow a naive softmax
    targets = np.array([2, 0, 3, 3, 1, 0])
    loss, d = sr.cross_entropy(logits, targets)
    t = torch.tensor(logits, requires_grad=True)
    t_loss = torch.nn.functional.cross_entropy(t, torch.tensor(targets))
    t_loss.backward()
    np.testing.assert_allclose(loss, t_loss.item(), **F64_FORMULA)
    np.testing.assert_allclose(d, t.grad.numpy(), **F64_FORMULA)
    assert sr.cross_entropy(logits.astype(np.float32), targets)[1].dtype == np.float32


@pytest.mark.parametrize("M, C", [(1, 1), (5, 3), (7, 16), (33, 37), (64, 1027)])
def test_cross_entropy_equals_the_numpy_reference(M, C):
    """The compiled rows against ``reference.cross_entropy``, float64: row widths below, at and
    past the kernel's lanes, one row and one class, a confident row and a huge logit."""
    rng = np.random.default_rng(M + C)
    logits = rng.standard_normal((M, C)) * 3
    targets = rng.integers(0, C, M)
    logits[0, targets[0]] += 40                          # softmax_t within 1e-17 of 1
    logits[-1, 0] = -1e4                                 # its exp underflows to 0
    loss, d = sr.cross_entropy(logits, targets)
    want_loss, want_d = reference.cross_entropy(logits, targets)
    # e_c / (s·M) here, exp(l_c − max − log s) / M there: a few roundings of values ≤ 1/M;
    # the loss is a mean of M terms, summed in float64 on both sides
    np.testing.assert_allclose(loss, want_loss, **F64_FORMULA)
    np.testing.assert_allclose(d, want_d, rtol=F64_FORMULA["rtol"], atol=F64_FORMULA["atol"] / M)


def test_cross_entropy_float32_within_its_error_bound():
    """float32 logits against the float64 result, no torch needed, with the bound derived
    from what the float32 kernel rounds (ε = EPS32):

    - e_c = exp(l_c − top): the float32 shift x_c = l_c − top rounds by up to ½ulp(x_c),
      which exp turns into a relative error of |x_c|·ε/2; exp itself adds 1 ulp:
      k_c = (1 + |x_c|/2)·ε relative;
    - s = Σ e_c, summed in float64: off by at most Σ e_c·k_c (r_s relative);
    - off the target, d = e_c / (s·M), with s·M rounded to float32 and the division
      rounded: k_c + r_s + ε relative;
    - at the target, (e_t − s)/(s·M) in float64: (e_t·k_t + Σ e_c·k_c)/(s·M) absolute,
      plus r_s + ½ε of the result;
    - the loss, mean of log s − x_t: r_s and |x_t|·ε/2 per row, and ½ ulp when rounded.
    """
    rng = np.random.default_rng(1)
    M, C = 300, 515
    logits = (rng.standard_normal((M, C)) * 4).astype(np.float32)
    targets = rng.integers(0, C, M)
    logits[::5, 7] += 25                                 # confident rows, some right, some wrong
    targets[::10] = 7
    truth_loss, truth_d = reference.cross_entropy(logits.astype(np.float64), targets)
    loss, d = sr.cross_entropy(logits, targets)

    rows = np.arange(M)
    x = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)   # exact in float64
    e = np.exp(x)
    s = e.sum(axis=1)
    k = (1 + np.abs(x) / 2) * EPS32
    err_s = (e * k).sum(axis=1)
    r_s = err_s / s
    bound = (k + r_s[:, None] + EPS32) * np.abs(truth_d)
    at = (e[rows, targets] * k[rows, targets] + err_s) / (s * M) \
        + (r_s + EPS32 / 2) * np.abs(truth_d[rows, targets])
    bound[rows, targets] = at
    assert np.all(np.abs(d.astype(np.float64) - truth_d) <= bound)
    loss_bound = np.mean(r_s + np.abs(x[rows, targets]) * EPS32 / 2) + EPS32 / 2 * abs(truth_loss)
    assert abs(float(loss) - truth_loss) <= loss_bound


def test_cross_entropy_float32_is_as_close_to_float64_as_torch(torch):
    """float32 logits: loss and gradient no farther from the float64 result than torch's float32."""
    rng = np.random.default_rng(0)
    M, C = 256, 1027
    logits = (rng.standard_normal((M, C)) * 4).astype(np.float32)
    targets = rng.integers(0, C, M)
    logits[::7, 0] += 30                                 # confident rows
    truth_loss, truth_d = reference.cross_entropy(logits.astype(np.float64), targets)
    loss, d = sr.cross_entropy(logits, targets)
    t = torch.tensor(logits, requires_grad=True)
    t_loss = torch.nn.functional.cross_entropy(t, torch.tensor(targets))
    t_loss.backward()
    # the loss is one float32 number: rounding it to float32 alone errs by up to ½ ulp, which
    # torch's may happen to be spared; beyond one ulp, ours must be the closer
    assert abs(float(loss) - truth_loss) <= abs(t_loss.item() - truth_loss) + EPS32 * truth_loss
    assert np.abs(d - truth_d).max() <= np.abs(t.grad.numpy() - truth_d).max()


def test_mse_matches_torch(torch):
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((2, 3, 4))
    loss, d = sr.mse_loss(pred, target)
    t = torch.tensor(pred, requires_grad=True)
    t_loss = torch.nn.functional.mse_loss(t, torch.tensor(target))
    t_loss.backward()
    np.testing.assert_allclose(loss, t_loss.item(), **F64_FORMULA)
    np.testing.assert_allclose(d, t.grad.numpy(), **F64_FORMULA)


def _twins(torch, seed=0):
    """A scratchrnn (LSTM, Linear) pair and its torch twin with identical float64 weights."""
    m = sr.LSTM(4, 6, num_layers=2, dtype=np.float64, seed=seed)
    head = sr.Linear(6, 4, dtype=np.float64, seed=seed + 1)
    tm = torch.nn.LSTM(4, 6, num_layers=2, dtype=torch.float64)
    th = torch.nn.Linear(6, 4, dtype=torch.float64)
    for a, b in ((m, tm), (head, th)):
        b.load_state_dict({k: torch.tensor(v) for k, v in a.state_dict().items()})
    return (m, head), (tm, th)


def _set_grads(torch, mods, tmods, rng):
    for a, b in zip(mods, tmods):
        for k, p in b.named_parameters():
            g = rng.standard_normal(p.shape) * 3
            a.grads[k][...] = g
            p.grad = torch.tensor(g)


@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(torch, max_norm):
    mods, tmods = _twins(torch)
    _set_grads(torch, mods, tmods, np.random.default_rng(0))
    norm = sr.clip_grad_norm(list(mods), max_norm)
    t_norm = torch.nn.utils.clip_grad_norm_([p for t in tmods for p in t.parameters()], max_norm)
    np.testing.assert_allclose(norm, t_norm.item(), **F64_FORMULA)
    for a, b in zip(mods, tmods):
        for k, p in b.named_parameters():
            np.testing.assert_allclose(a.grads[k], p.grad.numpy(), **F64_FORMULA)


def test_clip_grad_value_matches_torch(torch):
    mods, tmods = _twins(torch)
    _set_grads(torch, mods, tmods, np.random.default_rng(0))
    sr.clip_grad_value(list(mods), 0.7)
    torch.nn.utils.clip_grad_value_([p for t in tmods for p in t.parameters()], 0.7)
    for a, b in zip(mods, tmods):
        for k, p in b.named_parameters():
            np.testing.assert_array_equal(a.grads[k], p.grad.numpy())
    assert max(np.abs(g).max() for a in mods for g in a.grads.values()) == 0.7


@pytest.mark.parametrize("opt", ["sgd", "sgd_momentum_wd", "adam", "adam_wd"])
def test_optimizer_steps_match_torch(torch, opt):
    mods, tmods = _twins(torch)
    tparams = [p for t in tmods for p in t.parameters()]
    if opt.startswith("sgd"):
        kw = dict(lr=0.1, momentum=0.9, weight_decay=0.01) if opt != "sgd" else dict(lr=0.1)
        ours, theirs = sr.SGD(list(mods), **kw), torch.optim.SGD(tparams, **kw)
    else:
        kw = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1 if opt == "adam_wd" else 0)
        ours, theirs = sr.Adam(list(mods), **kw), torch.optim.Adam(tparams, **kw)
    rng = np.random.default_rng(0)
    for _ in range(4):
        _set_grads(torch, mods, tmods, rng)
        ours.step()
        theirs.step()
    for a, b in zip(mods, tmods):
        for k, p in b.named_parameters():
            np.testing.assert_allclose(a.state_dict()[k], p.detach().numpy(), **F64_FORMULA)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_training_trajectory_matches_torch(torch, opt):
    """12 steps of one-hot -> 2-layer LSTM -> Linear -> cross-entropy -> clipping -> optimizer.

    Every step's loss and the final parameters agree within F64_TRAJECTORY in float64.
    """
    (m, head), (tm, th) = _twins(torch, seed=3)
    tparams = list(tm.parameters()) + list(th.parameters())
    if opt == "sgd":
        ours, theirs = sr.SGD([m, head], lr=0.5, momentum=0.9), torch.optim.SGD(tparams, lr=0.5, momentum=0.9)
    else:
        ours, theirs = sr.Adam([m, head], lr=0.01), torch.optim.Adam(tparams, lr=0.01)
    rng = np.random.default_rng(0)
    T, N, V = 5, 3, 4
    for step in range(12):
        idx = rng.integers(0, V, size=(T + 1, N))
        x = sr.one_hot(idx[:-1], V, dtype=np.float64)            # (T, N, V)
        y = idx[1:].reshape(-1)                                 # (T·N,) next symbol

        ours.zero_grad()
        out, _ = m(x)
        logits = head(out)                                      # (T, N, V)
        loss, d_logits = sr.cross_entropy(logits.reshape(-1, V), y)
        m.backward(head.backward(d_logits.reshape(T, N, V)))
        sr.clip_grad_norm([m, head], 0.05)
        ours.step()

        theirs.zero_grad()
        t_out, _ = tm(torch.tensor(x))
        t_loss = torch.nn.functional.cross_entropy(th(t_out).reshape(-1, V), torch.tensor(y))
        t_loss.backward()
        torch.nn.utils.clip_grad_norm_(tparams, 0.05)
        theirs.step()
        np.testing.assert_allclose(loss, t_loss.item(), **F64_TRAJECTORY, err_msg=f"step {step}")
    for a, b in ((m, tm), (head, th)):
        for k, p in b.named_parameters():
            np.testing.assert_allclose(a.state_dict()[k], p.detach().numpy(), **F64_TRAJECTORY)
