"""The backward's gradient GEMMs in pieces of rows (``layout.gradient_pieces``,
``kernels.sums.gemms_in_pieces``): the rule, and that pieces change no sum but the LSTM's."""

import numpy as np
import pytest

from scratchrnn import layout
from scratchrnn.bench import groups, pieces
from scratchrnn.kernels import sums, team
from layer_cases import KINDS, layer_params, run_layer
from quick_settings import QUICK

pytestmark = pytest.mark.kernel


def pieces_of(T, N, H, G, chunked, nblocks=2, dtype=np.float32, I=None):
    w_ih = np.zeros((G * H, H if I is None else I), dtype)
    return layout.gradient_pieces(T, N, nblocks, chunked, w_ih, np.zeros((G * H, H), dtype))


def rows(*args, **kwargs):
    """(chunk_rows, piece_rows) of ``pieces_of``."""
    return pieces_of(*args, **kwargs)[:2]


def test_the_rule(monkeypatch):
    monkeypatch.setattr(layout, "MIN_SMALL_PIECE_ROWS", float("inf"))   # the cache pieces alone
    # little data: no pieces, the LSTM's weight gradients one GEMM over all rows
    assert rows(7, 3, 16, 4, False) == (21, 21)
    assert rows(128, 32, 128, 4, False) == (4096, 4096)              # 14 MiB: below the limit
    # the LSTM at T·N = 8192, H = 128 (28 MiB): one GEMM per piece of 256 rows
    assert rows(128, 64, 128, 4, False) == (256, 256)
    # the RNN's and GRU's chunks stay max(T, N) rows; a piece holds whole chunks of both sums
    assert rows(128, 256, 32, 1, True) == (256, 256)
    assert rows(128, 64, 128, 3, True) == (128, 256)
    # no pieces where a piece of da would not stay in the core's cache (2 MiB at H = 512)...
    assert rows(128, 64, 512, 4, False) == (8192, 8192)
    # ... nor where whole chunks of 100 and 128 rows (3200) make a piece that big
    assert rows(100, 100, 128, 3, True) == (100, 10000)
    assert rows(1024, 100, 32, 3, True) == (1024, 1024)               # chunks of 1024: pieces of 1024
    # ... nor where a block has no more rows than a piece
    assert rows(128, 64, 128, 4, False, nblocks=32) == (8192, 8192)
    assert rows(128, 64, 64, 4, False, dtype=np.float64)[1] == 256     # float64: the bytes count
    # where 256 rows of da exceed the limit, as many as fit, down to MIN_PIECE_ROWS (128)
    assert rows(128, 64, 128, 4, False, dtype=np.float64) == (128, 128)   # 4 KiB a row: 128 rows
    assert rows(128, 64, 256, 4, False) == (128, 128)                    # float32, the same bytes
    assert rows(128, 64, 512, 1, True, dtype=np.float64) == (128, 128)   # the RNN's chunks of 128
    assert rows(128, 64, 128, 3, True, dtype=np.float64) == (128, 8192)  # 170 rows fit; chunks make 256
    assert rows(128, 64, 512, 4, False, dtype=np.float32) == (8192, 8192)   # 64 rows fit: none


def test_the_pieces_for_small_matrix_kernels(monkeypatch):
    """With BLAS's small-matrix kernels (products of at most 10^6 multiply-adds), a pass's
    GEMMs walk pieces of as many rows as they take, kept within min(T, N) … max(T, N), at
    least MIN_SMALL_PIECE_ROWS, and for more than one sequence; the RNN's and GRU's chunks
    are then the pieces."""
    monkeypatch.setattr(team, "small_matrix_limit", lambda: 1_000_000)
    assert rows(128, 256, 32, 4, False) == (244, 244)                # 244 × 128 × 32 ≤ 10^6
    assert rows(128, 16, 32, 4, False) == (128, 128)                 # at most max(T, N)
    assert rows(32, 16, 32, 4, False) == (32, 32)
    assert rows(128, 16, 64, 4, False) == (61, 61)                   # 61 × 256 × 64
    assert rows(128, 16, 32, 4, False, I=64) == (122, 122)           # the wider of dW_ih, dW_hh
    assert rows(128, 16, 128, 4, False, I=8) == (61, 61)             # 61 × 512 × 32: I and P count
    assert rows(128, 1, 64, 4, False, nblocks=1) == (128, 128)       # one sequence
    assert rows(128, 2, 32, 4, False, nblocks=2) == (256, 256)       # a block is no more than a piece
    assert rows(128, 2, 32, 4, False, nblocks=1) == (128, 128)
    assert rows(128, 256, 32, 1, True) == (256, 256)                 # the RNN's: 976 rows fit
    assert rows(32, 256, 128, 1, True) == (61, 61)                   # 61 × 128 × 128
    assert rows(128, 16, 64, 3, True) == (81, 81)                    # the GRU's: 81 × 192 × 64
    monkeypatch.setattr(team, "small_matrix_limit", lambda: 0)
    assert rows(128, 16, 32, 4, False) == (2048, 2048)               # no such kernels: one GEMM


def test_the_small_pieces_in_groups_of_columns(monkeypatch):
    """Where fewer rows than min(T, N) or MIN_SMALL_PIECE_ROWS fit with all G·H columns of da,
    each weight gradient's GEMM takes half of them, a quarter …, down to MIN_SMALL_PIECE_COLS
    (64), with as many rows as then fit."""
    monkeypatch.setattr(team, "small_matrix_limit", lambda: 1_000_000)
    assert pieces_of(128, 16, 64, 4, False) == (61, 61, 256)          # all columns fit
    assert pieces_of(128, 16, 128, 4, False) == (61, 61, 128)         # 15, then 30 rows: too few
    assert pieces_of(28, 100, 128, 4, False, I=28) == (61, 61, 128)   # MNIST's first layer
    assert pieces_of(128, 16, 128, 3, True) == (40, 40, 192)          # the GRU's 384 columns
    assert pieces_of(64, 64, 64, 4, False) == (64, 64, 128)           # 61 < min(T, N) = 64, then 122
    assert pieces_of(128, 32, 256, 4, False) == (61, 61, 64)          # 1024 … 64 columns
    assert pieces_of(128, 32, 256, 3, True) == (40, 40, 96)           # 768, 384, 192, 96 columns
    assert pieces_of(128, 64, 256, 3, True)[1:] == (8192, 768)        # 40 < min(T, N): none
    assert pieces_of(32, 16, 512, 1, True)[1:] == (512, 512)          # 64 columns: 30 rows, none
    monkeypatch.setattr(layout, "MIN_SMALL_PIECE_COLS", 256)
    assert pieces_of(128, 16, 128, 4, False)[1:] == (2048, 512)       # no groups of 128


@pytest.mark.parametrize("T, N", [(32, 16), (128, 64), (35, 300), (1000, 3), (64, 128), (256, 256)])
def test_a_piece_is_whole_chunks_of_both_sums(monkeypatch, T, N):
    """Wherever the RNN and GRU walk in pieces for the caches, each piece holds whole chunks of
    dW_hh (max(T, N) rows) and of dW_ih (at least sums.INPUT_CHUNK): the sums are those without
    pieces."""
    monkeypatch.setattr(layout, "MIN_SMALL_PIECE_ROWS", float("inf"))   # the cache pieces alone
    for H, G in ((32, 1), (64, 3), (128, 1)):
        chunk, piece = rows(T, N, H, G, True, I=4 * H)
        assert chunk == max(T, N)
        assert piece % chunk == 0 and piece % max(chunk, sums.INPUT_CHUNK) == 0


@pytest.mark.parametrize("kind,proj", KINDS)
def test_pieces_change_no_sum_but_the_lstms(monkeypatch, kind, proj):
    """float64, T·N = 512 rows, forced into pieces of 128 rows (the RNN's and GRU's chunks of
    32 rows make whole pieces of 128): every output and gradient of the RNN and GRU the same
    bits as without pieces; the LSTM's weight gradients are then sums over 128 rows per piece,
    added in order, instead of one GEMM: rounding only, ≤ 512 terms of O(1), measured at most
    1e-15 of each array's largest value (bound 1e-13, as the blocked pass's test)."""
    T, N, I, H, P = 32, 16, 12, 20, 10
    rng = np.random.default_rng(3)
    p = layer_params(kind, proj, N, I, H, P, rng)
    x = rng.standard_normal((T, N, I))
    monkeypatch.setattr(layout, "PIECE_ROWS", 128)
    monkeypatch.setattr(layout, "PIECES_MIN_BYTES", 0)
    monkeypatch.setattr(layout, "MIN_SMALL_PIECE_ROWS", float("inf"))   # the cache pieces alone
    nblocks = layout.blocks(T, N, p["w_hh"])
    assert layout.gradient_pieces(T, N, nblocks, kind != "lstm", p["w_ih"], p["w_hh"])[1] == 128
    pieces = run_layer(kind, x, p, None, proj)
    monkeypatch.setattr(layout, "PIECES_MIN_BYTES", 1 << 60)
    whole = run_layer(kind, x, p, None, proj)
    assert len(pieces) == len(whole)
    for a, b in zip(pieces, whole):
        if kind == "lstm":
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * np.max(np.abs(b)))
        else:
            np.testing.assert_array_equal(a, b)
    if kind == "lstm":
        assert any(not np.array_equal(a, b) for a, b in zip(pieces, whole))   # the pieces did run


@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("kind,proj", KINDS)
def test_groups_of_columns_change_only_rounding(monkeypatch, request, kind, proj, blocked):
    """float64, T·N = 512 rows, a small-matrix limit that takes 32 rows of half of da's G·H
    columns and 16 of all of them: each weight gradient one GEMM per group of columns per piece
    of 32 rows, against no small pieces (one GEMM, or the RNN's and GRU's chunks): every output
    and gradient within rounding, ≤ 512 terms of O(1), 1e-13 of each array's largest value (as
    the pieces above). ``blocked``: in two row blocks, the second's groups set, not added to."""
    T, N, I, H, P = 32, 16, 12, 20, 10
    rng = np.random.default_rng(4)
    p = layer_params(kind, proj, N, I, H, P, rng)
    x = rng.standard_normal((T, N, I))
    GH, K = p["w_hh"].shape[0], max(I, P if proj else H)
    monkeypatch.setattr(team, "small_matrix_limit", lambda: 32 * -(-GH // 2) * K)
    monkeypatch.setattr(layout, "MIN_SMALL_PIECE_COLS", 1)
    if blocked:
        request.getfixturevalue("two_threads")
        monkeypatch.setattr(team, "MIN_WORK", 0)                    # enough work for blocks at this size
    nblocks = layout.blocks(T, N, p["w_hh"])
    assert nblocks == (2 if blocked else 1)
    assert layout.gradient_pieces(T, N, nblocks, kind != "lstm", p["w_ih"], p["w_hh"])[1:] == (32, -(-GH // 2))
    in_groups = run_layer(kind, x, p, None, proj)
    monkeypatch.setattr(layout, "MIN_SMALL_PIECE_COLS", float("inf"))
    assert layout.gradient_pieces(T, N, nblocks, kind != "lstm", p["w_ih"], p["w_hh"])[1:] == (T * N, GH)
    whole = run_layer(kind, x, p, None, proj)
    assert len(in_groups) == len(whole)
    for a, b in zip(in_groups, whole):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * np.max(np.abs(b)))


def test_the_groups_benchmark_times_both_ways(monkeypatch):
    """The LSTM at T=32 N=16 H=20 (80 columns of da) with a limit that takes 32 rows of 40
    columns: timed in groups of 40 and without; the rule picks them once the narrowest group may
    be 40 columns wide."""
    monkeypatch.setattr(team, "small_matrix_limit", lambda: 32 * 40 * 20)
    timed = groups.measure_point("lstm", 32, 16, 20, QUICK)
    assert timed["pieces"][1:] == (32, 40) and not timed["rule"] and timed["ratio"] > 0
    monkeypatch.setattr(layout, "MIN_SMALL_PIECE_COLS", 20)
    assert groups.measure_point("lstm", 32, 16, 20, QUICK)["rule"]
    untimed = groups.measure_point("rnn", 8, 1, 8, QUICK)            # one sequence: no pieces at all
    assert "ratio" not in untimed
    table = groups.to_markdown([timed, untimed], "a test machine")
    assert "| lstm | 32 | 16 | 20 | 1 | 32 × 40 |" in table and "| all columns |" in table
    assert "no groups" in table


@pytest.mark.parametrize("limit, piece, rule", [(0, 256, False), (1_000_000, 32, True)])
def test_the_benchmark_times_both_ways_and_lists_points_without_pieces(monkeypatch, limit, piece, rule):
    """512 rows of the LSTM: pieces of 256 for the caches (not by the rule: too little data),
    or, with BLAS's small-matrix kernels, of 32 (max(T, N)), which the rule picks."""
    monkeypatch.setattr(team, "small_matrix_limit", lambda: limit)
    timed = pieces.measure_point("lstm", 32, 16, 20, QUICK)
    assert timed["piece_rows"] == piece and timed["rule"] == rule and timed["ratio"] > 0
    untimed = pieces.measure_point("rnn", 8, 1, 8, QUICK)            # one sequence of 8: no piece possible
    assert "ratio" not in untimed
    table = pieces.to_markdown([timed, untimed], "a test machine")
    assert f"| lstm | 32 | 16 | 20 | 1 | {piece} |" in table and "no pieces possible" in table
