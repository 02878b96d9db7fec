"""The gradient-flow diagnostics: exact Jacobians, exact gradient norms, and the picture."""

import json

import numpy as np
import pytest

from scratchrnn.apps import cli, gradflow
from scratchrnn import functional as F


def test_rnn_step_jacobian_matches_the_closed_form():
    """For h_t = tanh(a_t): ∂h_t/∂h_{t-1} = diag(1 − h_t²) W_hh, per sample."""
    rng = np.random.default_rng(0)
    T, N, I, H = 4, 3, 5, 6
    layer = gradflow._layers("rnn", I, H, 1, seed=1)[0]
    x = rng.standard_normal((T, N, I))
    _, _, cache = F.rnn_forward(x, np.zeros((N, H)), *gradflow._weights(layer))
    w_hh = layer.state_dict()["weight_hh_l0"]
    want = np.array([np.mean([np.linalg.norm((1 - cache.h[t + 1, n] ** 2)[:, None] * w_hh, 2)
                              for n in range(N)]) for t in range(T)])
    np.testing.assert_allclose(gradflow.step_jacobian_norms("rnn", layer, x, cache), want, rtol=1e-12)


def test_lstm_step_jacobian_against_finite_differences():
    """The LSTM's (h, c) Jacobian from batched backward calls equals central differences."""
    rng = np.random.default_rng(1)
    I, H = 3, 4
    layer = gradflow._layers("lstm", I, H, 1, seed=2)[0]
    w = gradflow._weights(layer)
    x = rng.standard_normal((1, 1, I))
    s0 = rng.standard_normal(2 * H)

    def step(s):
        _, h, c, _ = F.lstm_forward(x, s[None, :H], s[None, H:], *w)
        return np.concatenate([h[0], c[0]])
    eps = 1e-6
    J_fd = np.stack([(step(s0 + eps * e) - step(s0 - eps * e)) / (2 * eps) for e in np.eye(2 * H)], 1)
    cache = F.lstm_forward(x, s0[None, :H], s0[None, H:], *w)[3]
    got = gradflow.step_jacobian_norms("lstm", layer, x, cache)[0]
    assert abs(got - np.linalg.norm(J_fd, 2)) < 1e-8


def test_gradient_norms_start_at_u_and_vanish_for_the_rnn():
    res = {m: gradflow.gradient_norms(m, T=60, N=4, input_size=4, hidden=16, layers=2, seed=0)
           for m in gradflow.MODELS}
    u = np.random.default_rng(0)
    u.standard_normal((60, 4, 4))
    u_norm = np.linalg.norm(u.standard_normal((4, 16)))     # the same draw gradient_norms makes
    for r in res.values():
        assert r["grad_norm"].shape == (2, 60) and r["jacobian_norm"].shape == (60,)
        np.testing.assert_allclose(r["grad_norm"][-1, -1], u_norm, rtol=1e-12)   # ∂L/∂h_T = u
    rnn, lstm = res["rnn"]["grad_norm"][-1], res["lstm"]["grad_norm"][-1]
    assert rnn[0] / rnn[-1] < 1e-6                      # vanishes over 60 steps at torch's init
    assert lstm[0] / lstm[-1] > 100 * rnn[0] / rnn[-1]  # the cell path carries far more back
    # each step's Jacobian norm is near 1 (0.9–1.01 here); the product still vanishes:
    # the norm of a product is far below the product of the norms
    assert 0.5 < res["rnn"]["jacobian_norm"].mean() < 1.1


def test_forget_bias_keeps_the_lstm_gradient_alive():
    """Initialising the forget gate at 1 (σ(1) ≈ 0.73 instead of ≈ 0.5) carries the gradient
    back orders of magnitude further."""
    kw = dict(T=60, N=4, input_size=4, hidden=16, layers=1, seed=0)
    plain = gradflow.gradient_norms("lstm", **kw)["grad_norm"][0]
    biased = gradflow.gradient_norms("lstm", forget_bias=1.0, **kw)["grad_norm"][0]
    assert biased[0] / biased[-1] > 1e3 * plain[0] / plain[-1]


def test_cli_writes_plot_and_numbers(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    assert cli.main(["gradflow", "--T", "12", "--hidden", "6", "--batch", "2", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "gradflow.png").stat().st_size > 0
    data = json.loads((tmp_path / "gradflow.json").read_text())
    assert set(data["models"]) == {"rnn", "lstm", "gru", "lstm_fb"}
    assert len(data["models"]["gru"]["jacobian_norm"]) == 12
    assert "LSTM" in capsys.readouterr().out.upper()
