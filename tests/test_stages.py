"""scratchrnn.bench.stages: the per-stage profile covers the whole call and restores what it wraps."""

from contextlib import contextmanager

import numba
import numpy as np
import pytest

from scratchrnn import checks, layout
from scratchrnn.bench import stage_timers, stages
from scratchrnn.kernels import passes, team


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
    assert s["rest: NaN and inf scans"] > 0 and s["rest: weights laid out (transposes, panels)"] > 0
    assert s["rest: BLAS held on one thread"] == 0          # this size runs no pass in row blocks
    table = stages.markdown(model, 3, 2, 4, "float64", s)
    assert table.count("\n| ") == len(s) + 1                # header + one row per stage


def test_the_rest_is_timed_in_its_pieces_and_unwrapped():
    """``rest_timed`` adds each piece's time under its key while a call runs (the BLAS hold
    where the pass runs in row blocks), then puts the originals back."""
    originals = {(owner, name): getattr(owner, name)
                 for owner, names in stage_timers.REST_PIECES.values() for name in names}
    log = {}
    with stage_timers.rest_timed(log):
        assert all(getattr(owner, name) is not f for (owner, name), f in originals.items())
        with team.serial_blas(2):
            pass
        checks.all_finite(np.ones(3))
    assert log["blas hold"] > 0 and log["scans"] > 0 and log["layout"] == 0
    assert all(getattr(owner, name) is f for (owner, name), f in originals.items())


@pytest.mark.parametrize("N", [1, 16])
def test_the_products_are_timed_where_the_loops_read_panels(N):
    """The profile runs where the loops read W_hh from panels: one sequence summed against four
    panels at a time, and blocks of 8 rows (LSTM H=128 float32 on an AVX-512 CPU with 2 threads).
    Its own timing of the products, each forward step into its own rows of a (T, N, G·H) array,
    once failed to compile there."""
    T, H = 4, 128
    w_hh = np.zeros((4 * H, H), np.float32)
    loop_blocks = layout.loop_blocks(layout.blocks(T, N, w_hh), N, w_hh)
    if layout.forward_weights(w_hh, N, loop_blocks).ndim != 3:
        pytest.skip("the loops read W_hh from panels only with AVX-512 and the JIT on (for N=16, in "
                    "two row blocks: 2 Numba threads)")
    assert (loop_blocks > 1) == (N > 1)                 # N=16 takes the parallel region
    s = stages.profile("lstm", T=T, N=N, H=H, dtype="float32", repeats=2)
    assert s["forward: per-step products"] > 0 and s["backward: per-step products"] > 0


def test_the_products_are_timed_in_row_blocks():
    """In row blocks, each block's steps run in the parallel region by the function picked for the
    direction (here BLAS's or the own loops' products: H=64 is under the panels' sides)."""
    T, N, H = 64, 16, 64
    if numba.get_num_threads() < 2:
        pytest.skip("row blocks need two Numba threads")
    assert layout.blocks(T, N, np.zeros((4 * H, H), np.float32)) > 1
    s = stages.profile("lstm", T=T, N=N, H=H, dtype="float32", repeats=2)
    assert s["forward: per-step products"] > 0 and s["backward: per-step products"] > 0


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


@pytest.mark.parametrize("parts, split", [(1, False), (2, False), (2, True), (3, True)])
def test_read_reads_every_element_as_often_as_asked(parts, split):
    """``_read``'s sum: each of ``parts`` threads reads all of the array, or with ``split`` a share
    of it, ``times`` times. Small integers in float64: every order of the sum is exact, so one
    element left out or read once too often changes it."""
    flat = np.arange(1.0, 1002.0)                            # 1001 elements: the shares are uneven
    times = 5
    expected = times * flat.sum() * (1 if split else parts)
    assert stages._read(flat, times, parts, split) == expected


def test_read_floor_times_the_weights_as_the_loops_read_them():
    """A matrix and its transposed view (read in memory order), for a serial pass and for two and
    three row blocks: a time, under a second for these few bytes."""
    w = np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)
    for nblocks in (1, 2, 3):
        assert 0 < stages.read_floor(w, 4, nblocks, repeats=2) < 1
        assert 0 < stages.read_floor(w.T, 4, nblocks, repeats=2) < 1


def test_a_serial_pass_reads_on_one_thread_where_its_products_run_on_one(monkeypatch):
    """Where a serial pass's products run on one thread (from panels, or in the own loops), its
    read floor is one thread reading; where BLAS runs them, also every thread reading a share."""
    ways, read = [], stages._read
    monkeypatch.setattr(stages, "_read", lambda flat, times, parts, split: ways.append((parts, split))
                        or read(flat, times, parts, split))
    w = np.ones((64, 16), np.float32)
    stages.read_floor(w, 2, 1, repeats=1, one_thread=True)
    assert set(ways) == {(1, False)}
    ways.clear()
    stages.read_floor(w, 2, 1, repeats=1)
    assert set(ways) == {(1, False), (numba.get_num_threads(), True)}
    assert stages._one_thread(np.zeros((4, 8, 32), np.float32), 1)             # panels
    assert stages._one_thread(np.zeros((128, 32), np.float32), 1)              # one row, own loops
    assert not stages._one_thread(np.zeros((2048, 512), np.float32), 1)        # one row, BLAS


@pytest.mark.parametrize("model, T, N, H, blocked", [("lstm", 8, 1, 16, False), ("gru", 8, 16, 16, False),
                                                    ("lstm", 64, 16, 64, True)])
def test_weight_reads_count_the_bytes_every_row_block_reads(model, T, N, H, blocked):
    """Per step, each of the loops' row blocks reads all of W_hh (G·H × H) once each way."""
    r = stages.weight_reads(model, T, N, H, "float32", repeats=2)
    w_hh = np.zeros((stages.gates(model) * H, H), np.float32)
    nb = layout.loop_blocks(layout.blocks(T, N, w_hh), N, w_hh)
    if blocked and numba.get_num_threads() < 2:
        pytest.skip("row blocks need two Numba threads")
    assert (nb > 1) == blocked                              # both forms of the pass are counted
    for direction in ("forward", "backward"):
        nbytes, seconds = r[direction]
        assert nbytes == w_hh.nbytes * nb
        assert seconds > 0


def test_the_reads_line_compares_the_products_with_reading_alone(capsys):
    """With ``reads``, a line under the table gives each direction's bytes, its rate in the
    products and alone, and their ratio; without, no line. ``main`` adds it, not with --fixed."""
    s = stages.profile("rnn", T=3, N=2, H=4, dtype="float64", repeats=2)
    reads = {"forward": (2 ** 20, s["forward: per-step products"] / 2),
             "backward": (2 ** 20, s["backward: per-step products"] / 4)}
    table = stages.markdown("rnn", 3, 2, 4, "float64", s, reads=reads)
    assert "forward 1 MiB" in table and "backward 1 MiB" in table
    assert "the products 2.00x that" in table and "the products 4.00x that" in table
    assert "read alone" not in stages.markdown("rnn", 3, 2, 4, "float64", s)
    assert stages.main(["--model", "rnn", "--T", "3", "--N", "2", "--H", "4", "--repeats", "2"]) == 0
    assert "read alone" in capsys.readouterr().out
    assert stages.main(["--model", "rnn", "--fixed", "--repeats", "3"]) == 0
    assert "read alone" not in capsys.readouterr().out


def test_the_products_alone_are_timed_in_each_round_right_after_its_call(monkeypatch):
    """Each round times its call, then the per-step products alone (forward, then backward), so
    that whatever slows a round slows both; all calls first and all products after them let the
    two see different machines."""
    events = []
    real_timers, real_products = stages.passes_timed, stages._per_step_products

    @contextmanager
    def timers(model, log):                                  # around each profiled call
        with real_timers(model, log):
            yield
        events.append("call")

    def products(c, *args):
        events.append("forward products" if c is not None else "backward products")
        return real_products(c, *args)

    monkeypatch.setattr(stages, "passes_timed", timers)
    monkeypatch.setattr(stages, "_per_step_products", products)
    stages.profile("rnn", T=3, N=2, H=4, dtype="float64", repeats=2)
    assert events == ["call", "forward products", "backward products"] * 3   # a warm-up round and two


@pytest.mark.parametrize("split", list(stages.SPLIT_FROM_LOOPS))
def test_a_loop_split_below_zero_is_printed_as_measured_and_explained(split):
    """A loop's stage below zero stays in the table as measured, and a line under it gives the
    loop's whole time, the two rows' sum, as what stands; a split at or above zero gets none."""
    products, loop = stages.SPLIT_FROM_LOOPS[split]
    ms = {"input projection (1 GEMM)": 1.0, "forward: per-step products": 2.0, "forward: gate maths": 0.5,
          "backward: per-step products": 2.0, "backward: elementwise": 0.0,
          "weight/input gradients (3 GEMMs + bias sums)": 3.0, "rest: NaN and inf scans": 0.1,
          "rest: weights laid out (transposes, panels)": 0.1, "rest: BLAS held on one thread": 0.0,
          "rest: Python and the output's copy": 0.3}
    ms["total"] = sum(ms.values())

    def table():
        return stages.markdown("lstm", 8, 4, 16, "float32", {k: v / 1e3 for k, v in ms.items()})
    assert "came out below zero" not in table()          # 0.0 is no split below zero
    ms[products], ms[split] = 2.0, -0.5                  # the products alone: longer than their loop, 1.5
    out = table()
    assert f"| {split} | -0.50 |" in out
    assert out.count("came out below zero") == 1
    assert f"{split} came out below zero: the per-step products timed alone took longer than {loop}" in out
    assert "only the loop's time (1.50 ms, the two rows' sum) stands" in out
