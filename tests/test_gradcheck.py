"""sr.gradcheck itself, and the modules under it (float64 finite differences)."""

import numpy as np
import pytest

import scratchrnn as sr
from scratchrnn.gradcheck import GradcheckError
from tolerances import GRADCHECK, GRADCHECK_QUADRATIC


def _square():
    def fn(a):
        return a ** 2, lambda d: {"a": 2 * a * d[0]}
    return fn


def test_passes_a_correct_gradient():
    a = np.random.default_rng(0).standard_normal((3, 4))
    report = sr.gradcheck(_square(), {"a": a})
    assert report["a"] < GRADCHECK_QUADRATIC


def test_fails_a_wrong_gradient():
    """A gradient off by a factor of 1.01 must be caught (relative error ~1e-2 ≫ GRADCHECK)."""
    def fn(a):
        return a ** 2, lambda d: {"a": 2.02 * a * d[0]}
    with pytest.raises(GradcheckError, match="a: relative error"):
        sr.gradcheck(fn, {"a": np.random.default_rng(0).standard_normal(5)})


def test_catches_a_single_wrong_element():
    """One wrong element among 100 is enough to fail, even when probes are subsampled."""
    def fn(a):
        def vjp(d):
            g = 2 * a * d[0]
            g.reshape(-1)[17] += 0.1
            return {"a": g}
        return a ** 2, vjp
    with pytest.raises(GradcheckError):
        sr.gradcheck(fn, {"a": np.random.default_rng(0).standard_normal((10, 10))})


def test_restores_inputs_and_rejects_float32():
    a = np.random.default_rng(0).standard_normal(6)
    before = a.copy()
    sr.gradcheck(_square(), {"a": a})
    np.testing.assert_array_equal(a, before)
    with pytest.raises(TypeError, match="float64"):
        sr.gradcheck(_square(), {"a": a.astype(np.float32)})


@pytest.mark.parametrize("model", ["rnn_tanh", "rnn_relu", "lstm"])
def test_modules_against_finite_differences(model):
    """A 2-layer bidirectional batch_first module: x, h0 (c0) and every parameter."""
    from scratchrnn.apps import verify
    cfg = verify.Config(model, num_layers=2, bidirectional=True, batch_first=True, T=4, N=2)
    report = verify.check_finite_differences(cfg, max_probes=None)
    assert "x" in report and "h0" in report and "weight_hh_l1_reverse" in report
    bad = {k: e for k, (e, ok) in report.items() if not ok}
    assert not bad


def test_dropout_backward_against_finite_differences():
    """Backward through the dropout mask: replay the same mask on every forward (S4)."""
    m = sr.LSTM(3, 4, num_layers=3, dropout=0.4, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((5, 2, 3)), **m.state_dict()}

    def fn(x, **params):
        m.load_state_dict(params)
        m.zero_grad()
        m.generator = np.random.default_rng(123)          # the same masks every time
        out, (h_n, c_n) = m(x)

        def vjp(d):
            dx, _ = m.backward(d[0], (d[1], d[2]))
            return {"x": dx, **{k: v.copy() for k, v in m.grads.items()}}
        return (out, h_n, c_n), vjp

    report = sr.gradcheck(fn, inputs)
    assert max(report.values()) < GRADCHECK
    assert (m._cache.masks[0] == 0).any()                  # dropout really dropped something
