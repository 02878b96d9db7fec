"""One-hot inputs (``scratchrnn.kernels.one_hot``): where every row of x is one-hot or zero,
the input projection looks W_ih's columns up and dW_ih sums rows of da, instead of GEMMs.

The projection must be the GEMM's to the bit (its sum for a row is one term times 1 and exact
zeros); dW_ih differs from ``daᵀ x`` by rounding alone, within the bound of its pairwise sums.
That the look-up path runs at all shows where a GEMM and it differ: an inf in a column no row
selects, which a GEMM multiplies by zero into NaN.
"""

import numpy as np
import pytest

from scratchrnn import functional as F
from scratchrnn import reference as ref
from scratchrnn.kernels import passes, sums
from scratchrnn.bench import one_hot as one_hot_bench
from scratchrnn.kernels.one_hot import one_hot_columns
from quick_settings import QUICK
import test_reference as tr

pytestmark = pytest.mark.kernel


def one_hot_rows(rng, R, I, zero_rows=(1, 4), dtype=np.float64):
    """(R, I) rows with one 1 each at random columns, all-zero rows at ``zero_rows``; the columns."""
    columns = rng.integers(0, I, R)
    columns[list(zero_rows)] = -1
    x2 = np.zeros((R, I), dtype)
    x2[np.flatnonzero(columns >= 0), columns[columns >= 0]] = 1
    return x2, columns


def test_the_scan_finds_one_hot_and_zero_rows_and_nothing_else():
    x2, columns = one_hot_rows(np.random.default_rng(0), 9, 6)
    found = np.full(9, -7)
    assert one_hot_columns(x2, found, 0, 9)
    np.testing.assert_array_equal(found, columns)
    for bad in (2.0, -1.0, 1e-30, np.nan, np.inf, -np.inf):     # one more non-zero, or a value that is not 1
        y = x2.copy()
        y[5, (columns[5] + 1) % 6] = bad
        assert not one_hot_columns(y, found, 0, 9), bad
        y[5, :] = 0
        y[5, 2] = bad                                            # the row's only non-zero, not 1
        assert not one_hot_columns(y, found, 0, 9), bad
        assert one_hot_columns(y, found, 6, 9)                   # rows outside r0:r1 are not read
        np.testing.assert_array_equal(found[:3], columns[6:])


# I = 1100 with G·H = 64: past OpenBLAS's inner block, and too big for its small-matrix kernels
@pytest.mark.parametrize("I, GH", [(11, 12), (1100, 64)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", ["none", "b_ih", "both"])
@pytest.mark.parametrize("nblocks", [1, 2, 3])
def test_the_projection_of_one_hot_rows_is_the_gemms_to_the_bit(nblocks, bias, dtype, I, GH):
    """Against the same rows through the GEMM: ``project`` of the rows with one dense row after
    them, which turns the scan down. Signed zeros too: a -0.0 weight and a -0.0 bias."""
    rng = np.random.default_rng(1)
    R = 37
    x2, columns = one_hot_rows(rng, R, I, dtype=dtype)
    w_ih, b_ih, b_hh = (rng.standard_normal(s).astype(dtype) for s in ((GH, I), GH, GH))
    w_ih[3, columns[0]] = -0.0
    b_ih[5], b_hh[5] = -0.0, -0.0
    empty = np.empty(0, dtype)
    biases = (b_ih if bias != "none" else empty, b_hh if bias == "both" else empty)
    out = np.full((R, GH), np.nan, dtype)
    args = (x2, w_ih, *biases, out)
    passes.project(*args) if nblocks == 1 else passes.project_blocks(*args, nblocks)
    dense = np.vstack([x2, rng.standard_normal((1, I)).astype(dtype)])
    want = np.full((R + 1, GH), np.nan, dtype)
    passes.project(dense, w_ih, *biases, want)
    np.testing.assert_array_equal(out, want[:R])
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want[:R]))


def test_the_projection_looks_weights_up_instead_of_multiplying_them_by_zero():
    rng = np.random.default_rng(2)
    x2, columns = one_hot_rows(rng, 20, 7)
    x2 = np.hstack([x2, np.zeros((20, 1))])                      # column 7: no row's 1
    w_ih = rng.standard_normal((6, 8))
    w_ih[:, 7] = np.inf
    out = np.empty((20, 6))
    passes.project(x2, w_ih, np.zeros(6), np.empty(0), out)
    assert np.isfinite(out).all()                                # a GEMM: 0 · inf = NaN everywhere
    np.testing.assert_array_equal(out[columns >= 0], w_ih[:, columns[columns >= 0]].T)


@pytest.mark.parametrize("pieces", [False, True, "groups"])
@pytest.mark.parametrize("nblocks", [1, 2, 3])
def test_the_weight_gradient_of_one_hot_rows(nblocks, pieces):
    """dW_ih = held + daᵀ x (rounding only); the other gradients the same bits as with a GEMM for dW_ih."""
    rng = np.random.default_rng(3)
    R, I, P, GH = 300, 11, 7, 12
    x2, _ = one_hot_rows(rng, R, I)
    h2, w_ih = rng.standard_normal((R, P)), rng.standard_normal((GH, I))
    d_a2 = rng.standard_normal((R, GH))
    held = [rng.standard_normal(shape) for shape in ((GH, I), (GH, P), GH, GH)]
    results = []
    for x in (x2, np.vstack([x2[:-1], rng.standard_normal((1, I))])):    # the last row dense: GEMMs
        out = [a.copy() for a in held]
        args = (x, h2, w_ih, d_a2, np.empty((0, GH)), np.full((R, I), np.nan), *out,
                np.full((nblocks - 1, GH, I), np.nan), np.full((nblocks - 1, GH, P), np.nan), 64,
                40 if pieces else R, 5 if pieces == "groups" else GH)
        passes.param_grads(*args) if nblocks == 1 else passes.param_grads_blocks(*args, nblocks)
        results.append((args[5], out))
    (dx2, (dw_ih, dw_hh, db_ih, db_hh)), (dx2_gemm, (_, dw_hh_gemm, db_ih_gemm, db_hh_gemm)) = results
    np.testing.assert_allclose(dw_ih, held[0] + d_a2.T @ x2, rtol=1e-13, atol=1e-13)   # sums of ≤ 300 O(1) terms
    for got, gemm in ((dx2, dx2_gemm), (dw_hh, dw_hh_gemm), (db_ih, db_ih_gemm), (db_hh, db_hh_gemm)):
        np.testing.assert_array_equal(got, gemm)


def _float32_weight_grad(x2, d_a2):
    """dW_ih = d_a2ᵀ x2 alone through ``passes.param_grads``, float32."""
    (R, I), GH, f = x2.shape, d_a2.shape[1], np.float32
    dw_ih = np.zeros((GH, I), f)
    passes.param_grads(x2, np.empty((R, 0), f), np.empty((GH, I), f), d_a2, np.empty((0, GH), f),
                       np.empty((0, I), f), dw_ih, np.empty((0, 0), f), np.empty(0, f), np.empty(0, f),
                       np.empty((0, GH, I), f), np.empty((0, 0, 0), f), R, R, GH)
    return dw_ih


def test_the_weight_gradients_float32_error_is_within_the_pairwise_bound_and_below_the_gemms():
    """Per element |dW_ih − truth| ≤ γ_n Σ|terms| (Higham §4.2), n = ``sums.pairwise_depth(count)
    + 1`` additions for a column of ``count`` rows, against the float64 sums of the same
    float32 terms; no further from the truth (RMS) than the GEMM's sum of the same terms; and
    each column the bits of ``column_sums`` over its rows in order (0 + that sum, added once)."""
    rng = np.random.default_rng(4)
    R, I, GH = 2000, 3, 8                                        # ~670 rows per column: long sums
    x2, columns = one_hot_rows(rng, R, I, dtype=np.float32)
    d_a2 = (rng.standard_normal((R, GH)) + 3).astype(np.float32)   # same-signed mostly: errors add up
    dw_ih = _float32_weight_grad(x2, d_a2)
    dense = x2.copy()
    dense[-1, (columns[-1] + 1) % I] = 1e-30                     # not one-hot: the GEMM, a term changed by 3e-30
    dw_gemm = _float32_weight_grad(dense, d_a2)
    terms = d_a2.astype(np.float64)
    truth, size = terms.T @ x2.astype(np.float64), np.abs(terms).T @ x2.astype(np.float64)
    n = np.array([sums.pairwise_depth(int((columns == k).sum())) + 1 for k in range(I)])
    u = np.finfo(np.float32).eps / 2
    assert (np.abs(dw_ih - truth) <= n * u / (1 - n * u) * size).all()
    assert np.abs(dw_ih - truth).max() > 0                       # float32 sums that did round
    rms = [np.sqrt(np.mean((d - truth) ** 2)) for d in (dw_ih, dw_gemm)]
    assert rms[0] <= rms[1], rms
    for k in range(I):                                           # the sums are column_sums' to the bit
        want = np.empty(GH, np.float32)
        sums.column_sums(np.ascontiguousarray(d_a2[columns == k]), want, 0, int((columns == k).sum()))
        np.testing.assert_array_equal(dw_ih[:, k], want)


def test_the_weight_gradient_sums_rows_instead_of_multiplying_them_by_zero():
    rng = np.random.default_rng(5)
    x2, columns = one_hot_rows(rng, 20, 8)
    d_a2 = rng.standard_normal((20, 6))
    d_a2[0, :] = np.inf
    dw_ih = np.zeros((6, 8))
    args = (x2, np.empty((20, 0)), np.empty((6, 8)), d_a2, np.empty((0, 6)), np.empty((0, 8)), dw_ih,
            np.empty((0, 0)), np.empty(0), np.empty(0), np.empty((0, 6, 8)), np.empty((0, 0, 0)), 20, 20, 6)
    passes.param_grads(*args)
    assert np.isinf(dw_ih[:, columns[0]]).all()
    others = np.arange(8) != columns[0]
    assert np.isfinite(dw_ih[:, others]).all()                   # a GEMM: 0 · inf = NaN in every column


@pytest.mark.parametrize("model, bias, lengths", tr.CASES, ids=tr.IDS)
def test_a_layer_on_one_hot_input_matches_the_reference(model, bias, lengths):
    """Every output and gradient of one layer on one-hot x (and zero rows) against the
    per-equation reference, which multiplies x as given, within its float64 bound."""
    rng = np.random.default_rng(6)
    p = tr.layer_params(model, bias, rng)
    _, states, ups = tr.layer_inputs(model, rng)
    x2, _ = one_hot_rows(rng, tr.T * tr.N, tr.I)
    x = x2.reshape(tr.T, tr.N, tr.I)
    ours = tr.run_layer(ref, model, p, x, states, ups, lengths)
    fast = tr.run_layer(F, model, p, x, states, ups, lengths)
    assert ours.keys() == fast.keys()
    for name in fast:
        tr.assert_close(fast[name], ours[name], name)


def test_the_benchmark_times_one_hot_input_against_the_gemms(monkeypatch):
    """Both ways timed on 13 classes; the GEMMs' input (times 1 + 2⁻²³) is not one-hot."""
    monkeypatch.setattr(one_hot_bench, "VOCAB", 13)
    row = one_hot_bench.measure_point("gru", 4, 3, 8, QUICK)
    assert row["ratio"] > 0 and row["max_diff"] <= one_hot_bench.AGREE
    x2, _ = one_hot_rows(np.random.default_rng(7), 12, 13, zero_rows=(), dtype=np.float32)
    assert not one_hot_columns(x2 * np.float32(1 + 2.0 ** -23), np.empty(12, np.int64), 0, 12)
    table = one_hot_bench.to_markdown([row], "a test machine")
    assert "| gru | 4 | 3 | 8 | 13 | 1 |" in table
