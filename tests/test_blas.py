"""kernels.blas.add_product_t: ``out += aᵀ b`` by BLAS's GEMM with beta = 1."""

import numpy as np
import pytest
from numba import njit

from scratchrnn.kernels.blas import add_product_t


@njit
def _compiled(out, a, b):
    add_product_t(out, a, b)


def _bound(out, a, b):
    """Rounding bound of out + aᵀ b: R products summed (γ_R), then one addition, each term
    scaled by its own size (Higham §3.5); NumPy's float64 reference rounds too (2⁻⁵³)."""
    u = np.finfo(out.dtype).eps / 2
    n = a.shape[0] + 1
    scale = np.abs(out).astype(np.float64) + np.abs(a.astype(np.float64)).T @ np.abs(b.astype(np.float64))
    return (n * u / (1 - n * u) + 2.0 ** -52) * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R, M, K", [(1, 1, 1), (40, 7, 5), (300, 33, 70)])
def test_adds_the_product_into_out(dtype, R, M, K):
    rng = np.random.default_rng(R)
    a, b = rng.standard_normal((R, M)).astype(dtype), rng.standard_normal((R, K)).astype(dtype)
    out = rng.standard_normal((M, K)).astype(dtype)
    want = out.astype(np.float64) + a.astype(np.float64).T @ b.astype(np.float64)
    bound = _bound(out, a, b)
    got = out.copy()
    _compiled(got, a, b)
    assert np.all(np.abs(got - want) <= bound)
    assert np.any(got != out)                            # it did add something


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_need_only_be_contiguous(dtype):
    """Row slices of larger arrays, out a block of a wider one: each read and written in place,
    the elements around ``out`` untouched."""
    rng = np.random.default_rng(1)
    a_all, b_all = rng.standard_normal((50, 9)).astype(dtype), rng.standard_normal((50, 6)).astype(dtype)
    a, b = a_all[5:30, 1:8], b_all[5:30, :4]             # (25, 7), (25, 4): strided rows
    big = rng.standard_normal((10, 12)).astype(dtype)
    before = big.copy()
    out = big[2:9, 3:7]                                  # (7, 4) inside big
    _compiled(out, a, b)
    want = before[2:9, 3:7].astype(np.float64) + a.astype(np.float64).T @ b.astype(np.float64)
    assert np.all(np.abs(out - want) <= _bound(before[2:9, 3:7], a, b))
    mask = np.ones(big.shape, bool)
    mask[2:9, 3:7] = False
    np.testing.assert_array_equal(big[mask], before[mask])


def test_no_rows_change_nothing():
    out = np.arange(6, dtype=np.float32).reshape(2, 3)
    _compiled(out, np.empty((0, 2), np.float32), np.empty((0, 3), np.float32))
    np.testing.assert_array_equal(out, np.arange(6, dtype=np.float32).reshape(2, 3))


def test_rejects_mismatched_shapes_and_columns_in_memory():
    a, b, out = np.ones((4, 3)), np.ones((4, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="expected a \\(R, M\\), b \\(R, K\\) and out \\(M, K\\)"):
        _compiled(out, a, np.ones((5, 2)))
    with pytest.raises(ValueError, match="rows are contiguous"):
        _compiled(out, np.ones((3, 4)).T, b)             # a's rows are columns in memory
