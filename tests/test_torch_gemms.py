"""scratchrnn.bench.torch_gemms: torch's matmul on the products of the stage profile's GEMM stages."""

import numpy as np
import pytest

from scratchrnn.bench import measure, stages, torch_gemms

# float64 products of a few terms: NumPy's and torch's sums differ by rounding only
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_each_stage_runs_the_profiles_products_at_its_shapes(torch, model):
    """Each stage's call computes what the stage does, with the shapes of the point: checked
    against NumPy on the same operands (the last step's xw_t for the forward's products)."""
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
    np.testing.assert_allclose(a["delta"], a["da_step"] @ a["w_hh"], **TOL)
    d_ah = a["d_ah"] if model == "gru" else a["da"]
    np.testing.assert_allclose(a["dx"], a["da"] @ a["w_ih"], **TOL)
    np.testing.assert_allclose(a["dw_ih"], a["da"].T @ a["x"], **TOL)          # added into zeros, once
    np.testing.assert_allclose(a["dw_hh"], d_ah.T @ a["h"], **TOL)
    np.testing.assert_allclose(a["db_ih"], a["da"].sum(0), **TOL)
    np.testing.assert_allclose(a["db_hh"], d_ah.sum(0) if model == "gru" else 0.0, **TOL)


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_the_products_have_the_profiles_flop(torch, model):
    """The operands' shapes give each stage the FLOP the profile's rates are computed from
    (``stages.gemm_gflops``): 2·rows·inner·columns per product, T per-step products, the three
    gradient GEMMs."""
    T, N, H = 5, 3, 8
    _, t = torch_gemms.products(model, T, N, H)
    mm = lambda a, b: 2 * a.shape[0] * a.shape[1] * b.shape[1]      # FLOP of a @ b
    flop = {"input projection (1 GEMM)": mm(t["x"], t["w_ih"].t()),
            "forward: per-step products": T * mm(t["h_prev"], t["w_hh"].t()),
            "backward: per-step products": T * mm(t["da_step"], t["w_hh"]),
            "weight/input gradients (3 GEMMs + bias sums)":
                mm(t["da"], t["w_ih"]) + mm(t["da"].t(), t["x"]) + mm(t["d_ah"].t(), t["h"])}
    assert flop == pytest.approx({k: v * 1e9 for k, v in stages.gemm_gflops(model, T, N, H).items()})


def test_gemm_stages_takes_the_fastest_timed_run_after_an_untimed_one(monkeypatch):
    """With a clock that makes each stage's timed runs take 3, 1 and 2 s: 1 s each, every call
    run once more than timed, and a pause before each stage."""
    ran, slept = [], []
    calls = {stage: (lambda stage=stage: ran.append(stage)) for stage in stages.GEMM_STAGES}
    monkeypatch.setattr(torch_gemms, "products", lambda *a: (calls, {}))
    clock = iter([0, 3, 10, 11, 20, 22] * len(calls))
    monkeypatch.setattr(torch_gemms.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(torch_gemms.time, "sleep", slept.append)
    timed = torch_gemms.gemm_stages("lstm", 2, 2, 4, "float32", 3)
    assert timed == {stage: 1 for stage in stages.GEMM_STAGES}
    assert ran == [stage for stage in stages.GEMM_STAGES for _ in range(4)]
    assert slept == [measure.PAUSE_S] * len(calls)


def test_gemm_stages_times_every_stage_through_torch(torch, monkeypatch):
    monkeypatch.setattr(measure, "PAUSE_S", 0.0)
    timed = torch_gemms.gemm_stages("lstm", 2, 2, 4, "float32", 2)
    assert list(timed) == list(stages.GEMM_STAGES)
    assert all(isinstance(s, float) and s > 0 for s in timed.values())


def _profile(ms):
    return dict(zip(stages.GEMM_STAGES, (s * 1e-3 for s in ms)))


def test_faster_takes_each_stage_at_the_faster_of_the_two():
    ours, theirs = _profile((1.0, 2.0, 3.0, 4.0)), _profile((2.0, 1.0, 3.5, 3.0))
    assert torch_gemms.best_seconds(ours, theirs) == pytest.approx((1.0 + 1.0 + 3.0 + 3.0) * 1e-3)


def test_the_line_gives_torchs_time_and_rate_against_ours():
    """LSTM T=1 N=1 H=1000: each GEMM stage but the gradients is 2·4·10^6 FLOP (8 MFLOP), the
    gradients three times that."""
    ours, theirs = _profile((1.0, 2.0, 3.0, 4.0)), _profile((2.0, 1.0, 3.5, 3.0))
    line = torch_gemms.markdown_line("lstm", 1, 1, 1000, ours, theirs)
    assert "input projection (1 GEMM) 2.00 ms (4 GFLOP/s; ours 8)" in line
    assert "forward: per-step products 1.00 ms (8 GFLOP/s; ours 4)" in line
    assert "weight/input gradients (3 GEMMs + bias sums) 3.00 ms (8 GFLOP/s; ours 6)" in line
    assert line.endswith("each at the faster of the two: 8.00 ms.")
