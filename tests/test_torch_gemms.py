"""scratchrnn.bench.torch_gemms: torch's matmul on the products of the stage profile's GEMM stages."""

import numpy as np
import pytest

from scratchrnn.bench import measure, stages, torch_gemms

# float64 products of a few terms: NumPy's and torch's sums differ by rounding only
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_each_stage_runs_the_profiles_products_at_its_shapes(torch, model):
    """Each stage's call computes what the stage does, with the shapes of the point: checked
    against NumPy on the same operands (the last step's for the per-step products)."""
    T, N, H = 3, 2, 4
    calls, t = torch_gemms.products(model, T, N, H, dtype="float64")
    assert list(calls) == list(stages.GEMM_STAGES)
    for call in calls.values():
        call()
    a = {name: v.numpy() for name, v in t.items()}
    G = {"rnn": 1, "lstm": 4, "gru": 3}[model]
    assert a["w_ih"].shape == a["w_hh"].shape == (G * H, H) and a["x"].shape == (T * N, H)
    np.testing.assert_allclose(a["xw_all"], a["x"] @ a["w_ih"].T + a["b"], **TOL)
    recurrent = a["h_prev"] @ a["w_hh"].T
    np.testing.assert_allclose(a["a"], recurrent if model == "gru" else a["xw"][T - 1] + recurrent, **TOL)
    np.testing.assert_allclose(a["delta"], a["da"].reshape(T, N, G * H)[T - 1] @ a["w_hh"], **TOL)
    d_ah = a["d_ah"] if model == "gru" else a["da"]
    np.testing.assert_allclose(a["dx"], a["da"] @ a["w_ih"], **TOL)
    np.testing.assert_allclose(a["dw_ih"], a["da"].T @ a["x"], **TOL)          # added into zeros, once
    np.testing.assert_allclose(a["dw_hh"], d_ah.T @ a["h"], **TOL)
    np.testing.assert_allclose(a["db_ih"], a["da"].sum(0), **TOL)
    np.testing.assert_allclose(a["db_hh"], d_ah.sum(0) if model == "gru" else 0.0, **TOL)


def test_gemm_stages_times_every_stage(torch, monkeypatch):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    timed = torch_gemms.gemm_stages("lstm", 2, 2, 4, repeats=2)
    assert list(timed) == list(stages.GEMM_STAGES)
    assert all(isinstance(s, float) and s > 0 for s in timed.values())


def _profile(ms):
    return dict(zip(stages.GEMM_STAGES, (s * 1e-3 for s in ms)))


def test_faster_takes_each_stage_at_the_faster_of_the_two():
    ours, theirs = _profile((1.0, 2.0, 3.0, 4.0)), _profile((2.0, 1.0, 3.5, 3.0))
    assert torch_gemms.faster(ours, theirs) == pytest.approx((1.0 + 1.0 + 3.0 + 3.0) * 1e-3)


def test_the_line_gives_torchs_time_and_rate_against_ours():
    """LSTM T=1 N=1 H=1000: each GEMM stage but the gradients is 2·4·10^6 FLOP (8 MFLOP), the
    gradients three times that."""
    ours, theirs = _profile((1.0, 2.0, 3.0, 4.0)), _profile((2.0, 1.0, 3.5, 3.0))
    line = torch_gemms.markdown_line("lstm", 1, 1, 1000, ours, theirs)
    assert "input projection 2.00 ms (4 GFLOP/s; ours 8)" in line
    assert "forward: per-step products 1.00 ms (8 GFLOP/s; ours 4)" in line
    assert "weight/input gradients 3.00 ms (8 GFLOP/s; ours 6)" in line
    assert line.endswith("each at the faster of the two: 8.00 ms.")
