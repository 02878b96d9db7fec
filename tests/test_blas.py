"""kernels.blas.add_product_t (``out += aᵀ b``) and add_product_bt (``out += a bᵀ``): BLAS's
GEMM with beta = 1 (compiled), or NumPy's product and an add (``NUMBA_DISABLE_JIT=1``), with
the same checks either way."""

import math

import numpy as np
import pytest
from numba import njit

from scratchrnn.kernels.blas import add_product_bt, add_product_t

pytestmark = pytest.mark.kernel


@njit
def _add(out, a, b):
    add_product_t(out, a, b)


@njit
def _add_bt(out, a, b):
    add_product_bt(out, a, b)


def _dyadic(rng, shape, dtype):
    """Values k/256 with |k| < 1300: exact in both dtypes, and so are their products in
    float64, so ``math.fsum`` gives the exact result to hold the rounding bound against."""
    return (np.round(rng.standard_normal(shape) * 256) / 256).astype(dtype)


def _exact(out, a, b):
    """out + aᵀ b, each element summed exactly (float64 products of these inputs are exact)."""
    a64, b64, o64 = a.astype(np.float64), b.astype(np.float64), out.astype(np.float64)
    return np.array([[math.fsum([o64[i, j], *(a64[:, i] * b64[:, j])]) for j in range(out.shape[1])]
                     for i in range(out.shape[0])])


def _bound(out, a, b, exact):
    """γ_{R+1}·(|out| + |a|ᵀ|b|) in the data's unit roundoff, whatever order the R products and
    the add are summed in (Higham, Accuracy and Stability, §3.1), plus the final rounding."""
    u = np.finfo(out.dtype).eps / 2
    n = a.shape[0] + 1
    scale = np.abs(out.astype(np.float64)) + np.abs(a.astype(np.float64)).T @ np.abs(b.astype(np.float64))
    return n * u / (1 - n * u) * scale + np.abs(np.spacing(exact.astype(out.dtype)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R, M, K", [(1, 1, 1), (40, 7, 5), (300, 33, 70)])
def test_adds_the_product_into_out(dtype, R, M, K):
    rng = np.random.default_rng(R)
    a, b, out = _dyadic(rng, (R, M), dtype), _dyadic(rng, (R, K), dtype), _dyadic(rng, (M, K), dtype)
    exact = _exact(out, a, b)
    got = out.copy()
    _add(got, a, b)
    assert np.all(np.abs(got - exact) <= _bound(out, a, b, exact))
    assert np.any(got != out)                            # it did add something


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_need_only_be_contiguous(dtype):
    """Row slices of larger arrays, out a block of a wider one: each read and written in place,
    the elements around ``out`` untouched."""
    rng = np.random.default_rng(1)
    a_all, b_all = _dyadic(rng, (50, 9), dtype), _dyadic(rng, (50, 6), dtype)
    a, b = a_all[5:30, 1:8], b_all[5:30, :4]             # (25, 7), (25, 4): strided rows
    big = _dyadic(rng, (10, 12), dtype)
    before = big.copy()
    out = big[2:9, 3:7]                                  # (7, 4) inside big
    _add(out, a, b)
    exact = _exact(before[2:9, 3:7], a, b)
    assert np.all(np.abs(out - exact) <= _bound(before[2:9, 3:7], a, b, exact))
    mask = np.ones(big.shape, bool)
    mask[2:9, 3:7] = False
    np.testing.assert_array_equal(big[mask], before[mask])


def test_one_row_takes_any_row_stride():
    """One row of a broadcast (row stride 0): BLAS gets a valid leading dimension all the same."""
    a = np.broadcast_to(np.arange(3.0), (1, 3))
    b = np.ones((1, 2))
    out = np.zeros((3, 2))
    _add(out, a, b)
    np.testing.assert_array_equal(out, [[0, 0], [1, 1], [2, 2]])


def test_no_rows_change_nothing():
    out = np.arange(6, dtype=np.float32).reshape(2, 3)
    _add(out, np.empty((0, 2), np.float32), np.empty((0, 3), np.float32))
    np.testing.assert_array_equal(out, np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize("add, b, out, wrong_b, expected", [
    (_add, np.ones((4, 2)), np.ones((3, 2)), np.ones((5, 2)),
     r"add_product_t: expected a \(R, M\), b \(R, K\) and out \(M, K\)"),
    (_add_bt, np.ones((2, 3)), np.ones((4, 2)), np.ones((2, 5)),
     r"add_product_bt: expected a \(R, K\), b \(M, K\) and out \(R, M\)"),
], ids=["t", "bt"])
def test_rejects_mismatched_shapes_and_columns_in_memory(add, b, out, wrong_b, expected):
    """An a of (4, 3) fits b and out, and wrong_b does not; then a as the transpose of a
    (3, 4) array, whose rows are columns in memory."""
    before = out.copy()
    with pytest.raises(ValueError, match=expected):
        add(out, np.ones((4, 3)), wrong_b)
    with pytest.raises(ValueError, match="rows are contiguous"):
        add(out, np.ones((3, 4)).T, b)
    np.testing.assert_array_equal(out, before)           # nothing written before the error


# add_product_bt: the same cases in the shapes it takes, against the same exact sums
# (``_exact(out, aᵀ, bᵀ)`` is out + a bᵀ).

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R, M, K", [(1, 1, 1), (40, 7, 5), (300, 33, 70)])
def test_bt_adds_the_product_into_out(dtype, R, M, K):
    """out (R, M) += a (R, K) bᵀ, b (M, K): within the bound of any summation order."""
    rng = np.random.default_rng(R)
    a, b, out = _dyadic(rng, (R, K), dtype), _dyadic(rng, (M, K), dtype), _dyadic(rng, (R, M), dtype)
    exact = _exact(out, a.T, b.T)                        # aᵀᵀ bᵀ = a bᵀ
    got = out.copy()
    _add_bt(got, a, b)
    assert np.all(np.abs(got - exact) <= _bound(out, a.T, b.T, exact))
    assert np.any(got != out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bt_keeps_the_bits_of_a_product_then_an_add(dtype):
    """Where BLAS takes the inner dimension in one block, the product enters ``out`` rounded as
    ``np.dot`` stores it, then added: the same bits as NumPy's product and an add
    (``passes.project`` relies on it for I up to a few hundred)."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((500, 64)).astype(dtype), rng.standard_normal((96, 64)).astype(dtype)
    out = rng.standard_normal((500, 96)).astype(dtype)
    expected = out + np.dot(a, b.T)
    _add_bt(out, a, b)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bt_rows_need_only_be_contiguous(dtype):
    rng = np.random.default_rng(1)
    a = _dyadic(rng, (50, 9), dtype)[5:30, 1:8]          # (25, 7): strided rows
    b = _dyadic(rng, (20, 9), dtype)[2:6, :7]            # (4, 7)
    big = _dyadic(rng, (40, 12), dtype)
    before = big.copy()
    out = big[2:27, 3:7]                                 # (25, 4) inside big
    _add_bt(out, a, b)
    exact = _exact(before[2:27, 3:7], a.T, b.T)
    assert np.all(np.abs(out - exact) <= _bound(before[2:27, 3:7], a.T, b.T, exact))
    mask = np.ones(big.shape, bool)
    mask[2:27, 3:7] = False
    np.testing.assert_array_equal(big[mask], before[mask])


def test_bt_empty_sides_change_nothing():
    out = np.arange(6, dtype=np.float32).reshape(2, 3)
    _add_bt(out, np.empty((2, 0), np.float32), np.empty((3, 0), np.float32))   # K = 0
    _add_bt(out[:0], np.empty((0, 4), np.float32), np.ones((3, 4), np.float32))   # R = 0
    np.testing.assert_array_equal(out, np.arange(6, dtype=np.float32).reshape(2, 3))
