"""The two directions of a bidirectional layer side by side (``kernels.team.side_by_side``,
``layout.directions_side_by_side``): the helper, the rule, and models that compute what they
compute with the directions one after the other."""

import multiprocessing
import os
import threading
import time

import numba
import numpy as np
import pytest

from scratchrnn import layout
from scratchrnn.bench import directions
from scratchrnn.kernels import passes, team
from module_cases import KINDS, close, make, run
from quick_settings import QUICK

F32 = np.float32


def test_side_by_side_runs_the_second_on_another_thread_with_blas_on_one():
    libs = team.serial_blas.libraries()
    before = [lib.get_num_threads() for lib in libs]
    seen = lambda: (threading.get_ident(), [lib.get_num_threads() for lib in libs])
    (first_id, first_blas), (second_id, second_blas) = team.side_by_side(seen, seen)
    assert first_id == threading.get_ident() != second_id
    assert first_blas == second_blas == [1] * len(libs)
    assert [lib.get_num_threads() for lib in libs] == before          # restored after


def test_the_helper_runs_with_the_callers_numba_thread_count():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert team.side_by_side(numba.get_num_threads, numba.get_num_threads) == (1, 1)
    finally:
        numba.set_num_threads(before)


def test_an_exception_waits_for_the_other_call_and_reaches_the_caller():
    done = []

    def slow():
        time.sleep(0.05)
        done.append(True)

    def fail(what):
        raise ValueError(what)
    with pytest.raises(ValueError, match="first"):
        team.side_by_side(lambda: fail("first"), slow)
    assert done == [True]                                            # the second ran to its end first
    with pytest.raises(ValueError, match="second"):
        team.side_by_side(lambda: None, lambda: fail("second"))
    with pytest.raises(ValueError, match="first"):                   # both: the first's
        team.side_by_side(lambda: fail("first"), lambda: fail("second"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_gets_a_helper_thread_of_its_own():
    """The helper thread does not survive a fork; the child must not wait on it forever."""
    assert team.side_by_side(lambda: 1, lambda: 2) == (1, 2)       # the parent's helper exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(team.side_by_side(lambda: 1, lambda: 2)))
    child.start()
    child.join(30)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and queue.get(timeout=5) == (1, 2)


def test_the_compiled_passes_release_the_gil():
    """Without it the two directions' loops would take turns on one core."""
    for name in ("rnn", "lstm", "gru"):
        for way in ("forward", "backward"):
            assert getattr(passes, f"{name}_{way}_pass").targetoptions["nogil"]


def test_rule(two_threads, monkeypatch):
    w = np.zeros((4 * 128, 128), F32)                                # LSTM H=128: 65,536 per row and step
    work = layout.DIRECTIONS_MIN_WORK
    T = -(-work // w.size)                                           # the fewest steps with enough work
    assert layout.directions_side_by_side(T, 1, w)
    assert layout.directions_side_by_side(T, 2 * team.MIN_ROWS - 1, w)
    assert not layout.directions_side_by_side(T - 1, 1, w)           # too little work
    assert not layout.directions_side_by_side(T, 2 * team.MIN_ROWS, w)   # rows enough for row blocks
    numba.set_num_threads(1)
    assert not layout.directions_side_by_side(T, 1, w)               # one thread
    numba.set_num_threads(2)
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)           # the passes would hold the GIL
    assert not layout.directions_side_by_side(T, 1, w)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("T,H", [(5, 6), (64, 64)])
def test_a_bidirectional_model_computes_the_same_side_by_side(two_threads, monkeypatch, kind, ragged, T, H):
    """Two layers (the second reads both directions of the first) with dropout between them,
    batch-first, three sequences with and without lengths, small and large enough for the two
    directions' loops to overlap: outputs, final states, dx, the initial-state gradients and
    every parameter's gradient agree. Each direction runs the same serial passes either way,
    but side by side with BLAS on one thread, which may sum a GEMM's products in another
    order (float32 rows differed by rounding where float64 ones were bit for bit the same):
    float64, with the layout tolerance (``tolerances.F64_LAYOUT``)."""
    side_by_side = team.side_by_side
    calls = []
    monkeypatch.setattr(team, "side_by_side", lambda a, b: calls.append(1) or side_by_side(a, b))
    rng = np.random.default_rng(3)
    pick = lambda *shape: rng.standard_normal(shape)
    states = lambda: (pick(4, 3, H), pick(4, 3, H)) if kind == "lstm" else pick(4, 3, H)   # (D·K, N, H)
    x, hx, d_out, d_fin = pick(3, T, H), states(), pick(3, T, 2 * H), states()             # batch-first
    lengths = np.array([T, 1, T // 2 + 1]) if ragged else None
    results = []
    for min_work in (float("inf"), 0):                               # one after the other, then side by side
        monkeypatch.setattr(layout, "DIRECTIONS_MIN_WORK", min_work)
        m = make(kind, input_size=H, hidden_size=H, num_layers=2, bidirectional=True, batch_first=True,
                 dropout=0.5)
        results.append(run(m, x, hx, d_out, d_fin, lengths))
    assert len(calls) == 4                                           # two layers, forward and backward
    close(results[1], results[0])


def test_the_benchmark_times_both_ways_and_lists_row_blocks(two_threads):
    serial = directions.measure_point("gru", 4, 1, 8, QUICK)
    assert serial["serial"] and serial["ratio"] > 0
    assert {"one_after_other", "side_by_side"} <= set(serial)
    blocked = directions.measure_point("lstm", 128, 16, 128, QUICK)
    assert not blocked["serial"]
    table = directions.to_markdown([serial, blocked], "a test machine")
    assert "| gru | 4 | 1 | 8 |" in table and "passes in row blocks" in table
