"""scratchrnn.bench.stages: the per-stage profile covers the whole call and restores what it wraps."""

import numpy as np
import pytest

from scratchrnn.bench import stages
from scratchrnn.kernels import passes


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_stages_add_up_to_the_total_and_unwrap(model):
    names = [f"{model}_{d}_{form}" for d in ("forward", "backward") for form in ("pass", "blocks")]
    originals = [getattr(passes, name) for name in names]
    s = stages.profile(model, T=3, N=2, H=4, dtype="float64", repeats=2)
    parts = sum(v for k, v in s.items() if k != "total")
    assert parts == pytest.approx(s["total"], rel=1e-9)
    for k in ("input projection (1 GEMM)", "weight/input gradients (3 GEMMs + bias sums)",
              "forward: per-step products", "backward: per-step products"):
        assert s[k] > 0, k                                  # each wrapped stage really ran
    assert originals == [getattr(passes, name) for name in names]
    table = stages.markdown(model, 3, 2, 4, "float64", s)
    assert table.count("\n| ") == len(s) + 1                # header + one row per stage


def test_gemm_flop_counts():
    """One (T·N)×H×(G·H) product is 2·T·N·H·G·H FLOPs; the gradients stage has three."""
    f = stages.gemm_gflops("lstm", T=2, N=3, H=5)
    one = 2 * 2 * 3 * 5 * 4 * 5 / 1e9
    assert f["input projection (1 GEMM)"] == pytest.approx(one)
    assert f["weight/input gradients (3 GEMMs + bias sums)"] == pytest.approx(3 * one)
    assert np.isclose(sum(f.values()), 6 * one)             # = the fwd+bwd FLOP model (3× forward)


def test_fixed_cost_profile_runs_at_size_one_in_microseconds(capsys):
    assert stages.main(["--model", "gru", "--fixed", "--repeats", "3", "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert "fixed cost per module call (forward+backward at T = N = H = I = 1)" in out
    assert "| stage | µs | share | GFLOP/s |" in out
    total = float(out.split("| total | ")[1].split(" |")[0])
    assert 1 < total < 1e5                      # µs: a call at size one takes tens of µs, not ms or ns


def test_torch_side_by_side_is_reported_and_kept_out_of_the_stages(torch):
    """``--torch``: torch's forward+backward is timed at the same point, reported under the
    table with both ratios, and neither counted in the total nor shown as a stage."""
    s = stages.profile("lstm", T=3, N=2, H=4, dtype="float64", repeats=2, torch_side=True)
    assert s[stages.TORCH] > 0
    parts = sum(v for k, v in s.items() if k not in ("total", stages.TORCH))
    assert parts == pytest.approx(s["total"], rel=1e-9)
    table = stages.markdown("lstm", 3, 2, 4, "float64", s)
    assert table.count("\n| ") == len(s)                    # header + one row per stage, none for torch
    gemms = sum(s[k] for k in stages.gemm_gflops("lstm", 3, 2, 4))
    assert f"over torch's: {s['total'] / s[stages.TORCH]:.3g}x" in table
    assert f"over torch's: {gemms / s[stages.TORCH]:.3g}x" in table


def test_torch_flag_without_torch_is_a_clear_error(monkeypatch, capsys):
    """--torch where torch is not installed: an error naming what is missing, no traceback."""
    real = stages.importlib.util.find_spec
    monkeypatch.setattr(stages.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    assert stages.main(["--model", "rnn", "--T", "2", "--N", "1", "--H", "2", "--torch"]) == 2
    assert "--torch needs torch, which is not installed" in capsys.readouterr().err
