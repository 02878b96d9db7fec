"""The two directions of a bidirectional layer side by side (``kernels.team.side_by_side``,
``layout.directions_side_by_side``): the helper, the rule, and models that compute bit for
bit what they compute with the directions one after the other."""

import multiprocessing
import os
import threading
import time

import numba
import numpy as np
import pytest

from scratchrnn import layout
from scratchrnn.bench import directions, measure, timing
from scratchrnn.kernels import team
from module_cases import KINDS, close, make, problem, run

F32 = np.float32


@pytest.fixture
def threads():
    """Set Numba's thread count for one test; restored after."""
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)


def test_side_by_side_runs_the_second_on_another_thread_with_blas_on_one():
    libs = team.serial_blas.libraries()
    before = [lib.get_num_threads() for lib in libs]
    seen = lambda: (threading.get_ident(), [lib.get_num_threads() for lib in libs])
    (first_id, first_blas), (second_id, second_blas) = team.side_by_side(seen, seen)
    assert first_id == threading.get_ident() != second_id
    assert first_blas == second_blas == [1] * len(libs)
    assert [lib.get_num_threads() for lib in libs] == before          # restored after


def test_the_helper_runs_with_the_callers_numba_thread_count(threads):
    threads(1)
    assert team.side_by_side(numba.get_num_threads, numba.get_num_threads) == (1, 1)


def test_an_exception_waits_for_the_other_call_and_reaches_the_caller():
    done = []

    def slow():
        time.sleep(0.05)
        done.append(True)

    def fail():
        raise ValueError("first")
    with pytest.raises(ValueError, match="first"):
        team.side_by_side(fail, slow)
    assert done == [True]                                            # the second ran to its end first
    with pytest.raises(ValueError, match="first"):
        team.side_by_side(lambda: None, fail)


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


def test_rule(threads, monkeypatch):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("this machine runs Numba on one thread: nothing runs side by side")
    threads(2)
    w = np.zeros((4 * 128, 128), F32)                                # LSTM H=128: 65,536 per row and step
    work = layout.DIRECTIONS_MIN_WORK
    T = -(-work // w.size)                                           # the fewest steps with enough work
    assert layout.directions_side_by_side(T, 1, w)
    assert not layout.directions_side_by_side(T - 1, 1, w)           # too little work
    assert layout.blocks(128, 16, w) > 1 and not layout.directions_side_by_side(128, 16, w)   # row blocks
    threads(1)
    assert not layout.directions_side_by_side(T, 1, w)               # one thread
    threads(2)
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)           # the passes would hold the GIL
    assert not layout.directions_side_by_side(T, 1, w)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float64, F32])
@pytest.mark.parametrize("ragged", [False, True])
def test_a_bidirectional_model_computes_the_same_bits_side_by_side(monkeypatch, kind, dtype, ragged):
    """Two layers (the second reads both directions of the first), batch-first, with and without
    lengths: outputs, final states, dx, the initial-state gradients and every parameter's
    gradient equal bit for bit, since each direction runs the same serial passes either way."""
    calls = []
    spy = lambda first, second: calls.append(1) or side_by_side(first, second)
    side_by_side = team.side_by_side
    monkeypatch.setattr(team, "side_by_side", spy)
    results = []
    for min_work in (float("inf"), 0):
        monkeypatch.setattr(layout, "DIRECTIONS_MIN_WORK", min_work)
        m = make(kind, num_layers=2, bidirectional=True, batch_first=True, dtype=dtype)
        x, hx, d_out, d_fin = problem(kind, m, np.random.default_rng(3), dtype=dtype)
        lengths = np.array([5, 2, 4]) if ragged else None
        if lengths is not None:
            m.zero_grad()
            out, fin = m(x, hx, lengths=lengths)
            dx, dhx = m.backward(d_out, d_fin)
            results.append((out, fin, dx, dhx, {k: v.copy() for k, v in m.grads.items()}))
        else:
            results.append(run(m, x, hx, d_out, d_fin))
    if numba.get_num_threads() >= 2:
        assert len(calls) == 4                                       # two layers, forward and backward
    close(results[1], results[0], exact=True)


def test_the_benchmark_times_both_ways_and_lists_row_blocks():
    settings = measure.Settings(timing.Guard(), samples=1, min_sample_s=0.001, pause=0, extra=0)
    serial = directions.measure_point("gru", 4, 1, 8, settings)
    assert serial["serial"] and serial["ratio"] > 0
    assert {"one_after_other", "side_by_side"} <= set(serial)
    blocked = directions.measure_point("lstm", 128, 16, 128, settings)
    table = directions.to_markdown([serial, blocked], "a test machine")
    assert "| gru | 4 | 1 | 8 |" in table and "passes in row blocks" in table


def test_the_benchmark_rejects_ways_that_disagree(monkeypatch):
    """The equality check can fail: one way's output off by one in its last bits is caught."""
    impl = directions._impl
    wrong = lambda name, m, x, d: impl(name, m, x, d)._replace(
        call=lambda c=impl(name, m, x, d).call: np.nextafter(c(), np.inf) if name == "side_by_side" else c())
    monkeypatch.setattr(directions, "_impl", wrong)
    settings = measure.Settings(timing.Guard(), samples=1, min_sample_s=0.001, pause=0, extra=0)
    with pytest.raises(AssertionError, match="differ"):
        directions.measure_point("rnn", 4, 1, 8, settings)
