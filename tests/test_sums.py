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
    """2^16 copies of float32(0.1): summed row after row (NumPy's sum(axis=0)) the error is
    about 4.0, above the pairwise bound (8.2e-3), which column_sums keeps."""
    R = 2 ** 16
    a = np.full((R, 4), 0.1, np.float32)
    exact, bound = _exact(a, 0, R), _bound(a, 0, R)
    out = np.empty(4, np.float32)
    sums.column_sums(a, out, 0, R)
    assert np.all(np.abs(out - exact) <= bound)
    assert np.all(np.abs(a.sum(axis=0) - exact) > 100 * bound)


def test_pairwise_depth():
    """Depth: the block's BLOCK − 1 additions, then ⌊log₂ nblocks⌋ + 1 (the stack's merges and
    the last adding up)."""
    B = sums.BLOCK
    assert sums.pairwise_depth(0) == B - 1
    assert sums.pairwise_depth(B) == B
    assert sums.pairwise_depth(2 * B) == B + 1
    assert sums.pairwise_depth(3 * B) == B + 1
    assert sums.pairwise_depth(1024 * B) == B + 10
