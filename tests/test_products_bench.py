"""scratchrnn.bench.products: both ways are checked equal before they are timed, and the table
says which way the rule picks."""

import numpy as np
import pytest

from scratchrnn import kernels
from scratchrnn.bench import products
from scratchrnn.kernels import panels


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(products, "ROWS", (1, 4))
    monkeypatch.setattr(products, "HIDDEN", (8,))
    monkeypatch.setattr(products, "GATE_ROWS", (1, 4))
    monkeypatch.setattr(products, "DTYPES", ("float64",))
    monkeypatch.setattr(products, "T_STEPS", 2)
    monkeypatch.setattr(products, "ROUNDS", 1)
    monkeypatch.setattr(products, "PANEL_ROWS", (1, 4, 64))
    monkeypatch.setattr(products, "PANEL_HIDDEN", (32,))


def test_every_case_is_timed_both_ways_and_reported(small):
    rows = products.measure()
    assert len(rows) == 2 * 2 * 2 * 2                  # BLAS threads × G × direction × rows
    for threads, dtype, G, H, direction, n, own, blas, pick in rows:
        assert own > 0 and blas > 0
        K, M = (H, G * H) if direction == "forward" else (G * H, H)
        assert pick == ("own loops" if kernels.own_loops(n, K * M, kernels.team.small_matrix_limit()) else "BLAS")
    text = products.to_markdown(rows, env={"cpu": {"model": "M", "isa": "ISA", "usable_cpus": 1, "cpu_count": 1}})
    assert text.count("| float64 |") == len(rows)
    assert f"at {sum('ok |' in line for line in text.splitlines())} of {len(rows)} cases" in text


@pytest.mark.parametrize("table, message", [("measure", "own loops and BLAS disagree"),
                                            ("measure_panels", "panels and BLAS disagree")])
def test_a_wrong_product_is_caught_before_timing(small, monkeypatch, table, message):
    """A BLAS product that is off by a little more than the rounding bound stops the run."""
    true_matmul = kernels.matmul
    monkeypatch.setattr(kernels, "matmul", lambda a, b: true_matmul(a, b) * (1 + 1e-12))
    with pytest.raises(AssertionError, match=message):
        getattr(products, table)()


def test_one_row_table_gives_each_way_and_the_streaming_read(small):
    one_row = products.measure_one_row()
    assert [(G, H, d) for G, H, d, *_ in one_row] == [(G, 8, d) for G in (1, 4) for d in ("forward", "backward")]
    for G, H, direction, nbytes, own, blas, stream, on in one_row:
        assert nbytes == 4 * G * H * H and own > 0 and blas > 0 and stream > 0
        M = G * H if direction == "forward" else H
        assert np.isnan(on) == (M % 32 != 0) and not on <= 0     # panels timed where b's columns fill them
    text = products.to_markdown([], one_row, env={"cpu": {"model": "M", "isa": "ISA", "usable_cpus": 1,
                                                            "cpu_count": 1}})
    assert "## One row" in text and text.count(" 1×") == len(one_row)


def test_panels_table_times_both_ways_and_says_which_the_rule_picks(small):
    rows = products.measure_panels()
    assert len(rows) == len(products.PANEL_GATE_ROWS) * 2 * 3   # G × direction × rows
    for dtype, G, H, direction, n, on, off, plain, pack, pick in rows:
        K, M = (H, G * H) if direction == "forward" else (G * H, H)
        assert on > 0 and off > 0 and pack > 0
        assert pick == panels.use_panels(n, K, M, dtype)
    text = products.panels_markdown(rows)
    assert text.count("| float64 |") == len(rows)
    assert f"at {sum('ok |' in line for line in text.splitlines())} of {len(rows)} cases" in text
