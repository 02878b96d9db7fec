"""``kernels.sums.column_sums``: the bias gradients' sums over T·N rows, pairwise."""

import math

import numpy as np
import pytest

from scratchrnn.kernels import sums

pytestmark = pytest.mark.kernel


def _bound(a, r0, r1):
    """γ_depth·Σ|a| per column (Higham §4.2), depth from ``sums.pairwise_depth``: deterministic,
    so it holds for every input; plus one float64 ulp of the sum, the most ``_exact`` errs by."""
    u = np.finfo(a.dtype).eps / 2
    n = sums.pairwise_depth(r1 - r0)
    return n * u / (1 - n * u) * np.abs(a[r0:r1]).astype(np.float64).sum(axis=0) + np.abs(np.spacing(_exact(a, r0, r1)))


def _exact(a, r0, r1):
    """The column sums of rows r0:r1, correctly rounded to float64 (``math.fsum``)."""
    return np.array([math.fsum(a[r0:r1, j].astype(np.float64)) for j in range(a.shape[1])])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R", [0, 1, 7, 8, 9, 63, 200, 1031])
def test_column_sums_within_the_pairwise_bound(dtype, R):
    """Every column sum, whole or over a row range, within γ_depth·Σ|a| of the exact sum."""
    rng = np.random.default_rng(R)
    a = np.stack([rng.standard_normal(R), rng.random(R), np.full(R, 0.1)], axis=1).astype(dtype)   # (R, 3)
    for r0, r1 in ((0, R), (R // 3, R - R // 5)):
        out = np.full(3, np.nan, dtype)
        sums.column_sums(a, out, r0, r1)
        assert np.all(np.abs(out - _exact(a, r0, r1)) <= _bound(a, r0, r1)), (r0, r1)


def test_row_after_row_would_break_the_bound():
    """2^16 copies of float32(0.1): summed row after row the error is about 4.0, above the
    pairwise bound (8.2e-3), which column_sums keeps."""
    R = 2 ** 16
    a = np.full((R, 4), 0.1, np.float32)
    exact, bound = _exact(a, 0, R), _bound(a, 0, R)
    out = np.empty(4, np.float32)
    sums.column_sums(a, out, 0, R)
    assert np.all(np.abs(out - exact) <= bound)
    assert np.all(np.abs(np.cumsum(a, axis=0)[-1] - exact) > 100 * bound)   # row after row


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R, chunk", [(0, 1), (1, 1), (2, 1), (9, 3), (10, 3), (100, 7), (1000, 40), (30, 64)])
def test_product_in_chunks_within_its_bound(dtype, R, chunk):
    """aᵀ b over rows r0:r1 within γ_depth·|a|ᵀ|b| of the exact product (depth from
    ``sums.chunked_depth``); the rows outside the range play no part."""
    rng = np.random.default_rng(R)
    a, b = rng.standard_normal((R + 3, 5)).astype(dtype), rng.random((R + 3, 4)).astype(dtype)
    out = np.full((5, 4), np.nan, dtype)
    sums.product_in_chunks(a, b, out, 2, R + 2, chunk, False)
    a64, b64 = a[2:R + 2].astype(np.float64), b[2:R + 2].astype(np.float64)
    exact = np.array([[math.fsum(a64[:, i] * b64[:, j]) for j in range(4)] for i in range(5)])
    u = np.finfo(dtype).eps / 2
    n = sums.chunked_depth(R, chunk) + 1                      # + 1: the rounding of each product
    ref = 2 ** -53 if dtype == np.float64 else 0              # the float64 products in ``exact`` round too
    bound = (n * u / (1 - n * u) + ref) * (np.abs(a64).T @ np.abs(b64)) + np.abs(np.spacing(exact))
    assert np.all(np.abs(out - exact) <= bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R, chunk", [(0, 1), (1, 1), (9, 3), (100, 7), (30, 64)])
def test_product_in_chunks_adds_into_out(dtype, R, chunk):
    """With ``add`` the chunks' sum goes into what ``out`` held: every chunk is one more
    addition into it, so out − before is within γ_{depth+2}·(|a|ᵀ|b| + |before|) of the exact
    product (the first chunk's addition into ``before`` is the extra rounding), and from zeros
    it is the product the overwriting form gives, bit for bit where BLAS rounds each chunk
    once (these chunks are far within its inner block)."""
    rng = np.random.default_rng(R + 1)
    a, b = rng.standard_normal((R, 5)).astype(dtype), rng.random((R, 4)).astype(dtype)
    before = rng.standard_normal((5, 4)).astype(dtype)
    out = before.copy()
    sums.product_in_chunks(a, b, out, 0, R, chunk, True)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    exact = before.astype(np.float64) + np.array([[math.fsum(a64[:, i] * b64[:, j]) for j in range(4)]
                                                  for i in range(5)])
    u = np.finfo(dtype).eps / 2
    n = sums.chunked_depth(R, chunk) + 2
    ref = 2 ** -52 if dtype == np.float64 else 0              # the float64 reference rounds too
    bound = (n * u / (1 - n * u) + ref) * (np.abs(a64).T @ np.abs(b64) + np.abs(before)) \
        + np.abs(np.spacing(exact))
    assert np.all(np.abs(out - exact) <= bound)
    assert not np.array_equal(out, before) or R == 0          # something was added
    zeros, overwritten = np.zeros((5, 4), dtype), np.full((5, 4), np.nan, dtype)
    sums.product_in_chunks(a, b, zeros, 0, R, chunk, True)
    sums.product_in_chunks(a, b, overwritten, 0, R, chunk, False)
    if R:
        np.testing.assert_array_equal(zeros, overwritten)


def test_product_in_chunks_keeps_float32_digits():
    """R = 2^16 rows of float32(0.1) · 1: one GEMM adds them row after row (unless its BLAS
    blocks the inner dimension) and errs by about 4.0; in chunks of 256 rows the bound is
    510 roundings of at most 6.6e3 · 2⁻²⁴ each, 0.2."""
    R = 2 ** 16
    a, b = np.full((R, 2), 0.1, np.float32), np.ones((R, 3), np.float32)
    out = np.empty((2, 3), np.float32)
    sums.product_in_chunks(a, b, out, 0, R, 256, False)
    assert sums.chunked_depth(R, 256) == 510
    np.testing.assert_allclose(out, R * np.float64(np.float32(0.1)), rtol=0, atol=0.2)


def test_pairwise_depth():
    """The bound: the block's BLOCK − 1 additions, then ⌊log₂ nblocks⌋ + 1 (the stack's merges
    and the last adding up). That it holds is what the bound tests above check on values."""
    B = sums.BLOCK
    assert sums.pairwise_depth(0) == 0
    assert sums.pairwise_depth(B) == B
    assert sums.pairwise_depth(2 * B) == B + 1
    assert sums.pairwise_depth(3 * B) == B + 1
    assert sums.pairwise_depth(1024 * B) == B + 10

