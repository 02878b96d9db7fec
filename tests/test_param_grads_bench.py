"""scratchrnn.bench.param_grads: both product orders are checked equal before they are timed."""

import pytest

from scratchrnn.bench import param_grads


@pytest.fixture
def tiny_grid(monkeypatch):
    monkeypatch.setattr(param_grads, "ROWS", (8, 32))
    monkeypatch.setattr(param_grads, "HIDDEN", (4,))
    monkeypatch.setattr(param_grads, "GATE_ROWS", (1, 3))
    monkeypatch.setattr(param_grads, "FLOP_PER_BLOCK", 1.0)   # the minimum of 5 repeats per block
    monkeypatch.setattr(param_grads, "ROUNDS", 1)


def test_measures_every_point_and_writes_one_row_each(tiny_grid):
    rows = param_grads.measure()
    assert [(g, tn, h) for g, tn, h, _, _ in rows] == [(1, 8, 4), (1, 32, 4), (3, 8, 4), (3, 32, 4)]
    assert all(a > 0 and b > 0 for *_, a, b in rows)
    table = param_grads.to_markdown(rows)
    assert all(table.count(f"\n| {g} | {tn} | 4 |") == 1 for g in (1, 3) for tn in (8, 32))


def test_a_wrong_product_is_caught(tiny_grid, monkeypatch):
    """The equality check can fail: a product off by 1e-3 everywhere (far above the rounding bound) is rejected."""
    monkeypatch.setattr(param_grads, "_direct", lambda da, x: param_grads.matmul(da.T, x) + 1e-3)
    with pytest.raises(AssertionError, match="disagree"):
        param_grads.measure()
