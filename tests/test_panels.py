"""The per-step product from weights packed in panels (``scratchrnn.kernels.panels``): the
packing, the product against float64 sums, the rule that picks it, and whole passes that
use it against the same passes without it."""

import re

import llvmlite.binding
import numba
import numpy as np
import pytest

from scratchrnn import layout
from scratchrnn.kernels import panels, products, vectors
from layer_cases import KINDS, layer_params, run_layer

DTYPES = [np.float32, np.float64]


def _packed(b):
    return panels.pack_into(b, np.empty(panels.panels_shape(*b.shape, b.dtype), b.dtype))


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transposed", [False, True])
def test_pack_into_lays_out_column_panels(dtype, transposed):
    """K = 70 rows: a transposed view is copied in register tiles (16 float32 or 8 float64
    rows and columns), the last ones short."""
    nr = panels.panel_width(dtype)
    K, M = 70, 2 * nr
    b = np.random.default_rng(0).standard_normal((K, M)).astype(dtype)
    if transposed:                                   # W_hh.T: b's columns are contiguous
        b = np.ascontiguousarray(b.T).T
    p = _packed(b)
    assert p.shape == (2, K, nr)
    for q in range(2):
        assert np.array_equal(p[q], b[:, q * nr:(q + 1) * nr])
    assert products.operand_shape(p) == (K, M) == products.operand_shape(b)


def _bound(c, a, b):
    """Rounding bound of ``c + a @ b`` summed in the working precision: γ_{K+1}·(|c| + |a| @ |b|)
    (Higham, Accuracy and Stability of Numerical Algorithms, eq. 3.5), γ_n = n·u / (1 − n·u)."""
    u = np.finfo(a.dtype).eps / 2
    n = a.shape[1] + 1
    mag = np.abs(c.astype(np.float64)) + np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    return n * u / (1 - n * u) * mag


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N", [*range(1, 10), 15, 16, 17])
@pytest.mark.parametrize("with_c", [False, True])
def test_panels_add_is_the_product_within_its_rounding_bound(dtype, N, with_c):
    """Row counts 1–9 and 15–17: whole groups of ``ROWS`` (8), one and two, and remainders;
    one row against five panels: a group of four and one alone, K = 37 past its last four."""
    rng = np.random.default_rng(N)
    nr = panels.panel_width(dtype)
    K, M = 37, 5 * nr
    a, b = (rng.standard_normal(s).astype(dtype) for s in ((N, K), (K, M)))
    c = rng.standard_normal((N, M)).astype(dtype) if with_c else np.zeros((N, M), dtype)
    c_before = c.copy()
    got = panels.panels_add(c if with_c else None, a, _packed(b))
    exact = c.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    assert got.dtype == dtype and got.shape == (N, M)
    assert np.array_equal(c, c_before)                   # the sums go into a copy of c
    if with_c:                                           # c + the sums, one rounding, each row once
        assert np.array_equal(got, c + panels.panels_add(None, a, _packed(b)))
    assert np.all(np.abs(got - exact) <= _bound(c, a, b))
    assert np.array_equal(products.matmul_add(c if with_c else None, a, _packed(b), 0), got)


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
def test_each_row_is_summed_alike_in_any_group(dtype):
    """A row's result does not depend on the rows beside it, two or more: blocks of rows and the
    serial pass agree bit for bit. (One row alone, which only a pass over one sequence multiplies,
    is summed in the own loops' order: ``test_one_row_is_summed_as_the_own_loops_sum_it``.)"""
    rng = np.random.default_rng(3)
    K, M = 21, panels.panel_width(dtype)
    a, b, c = (rng.standard_normal(s).astype(dtype) for s in ((11, K), (K, M), (11, M)))
    p = _packed(b)
    whole = panels.panels_add(c, a, p)
    for r in range(10):
        assert np.array_equal(panels.panels_add(c[r:r + 2], a[r:r + 2], p), whole[r:r + 2])
        assert np.array_equal(panels.panels_add(c[r:], a[r:], p), whole[r:])


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
def test_one_row_is_summed_as_the_own_loops_sum_it(dtype):
    """One row from panels (``_one_row_group``) sums each four products before adding them to the
    row's sum, as ``products._add_one_row`` does; summed in order over all of K, one multiply-add
    a row (as a group of rows is), its error from the exact product was 1.81–2.02x as large (RMS
    over 40 problems, K = 512, 12 seeds, both dtypes), where the two ways came within 0.96–1.02x
    of each other. The bound, 1.25, is far from both. The truth is the product in float64 for
    float32 data, in x86's 80-bit long double for float64 data."""
    wide = np.float64 if dtype == np.float32 else np.longdouble
    if np.finfo(wide).eps >= np.finfo(dtype).eps:
        pytest.skip("this platform's long double is no wider than float64: no truth for float64 sums")
    rng = np.random.default_rng(5)
    K, M = 512, 4 * panels.panel_width(dtype)
    b = rng.standard_normal((K, M)).astype(dtype)
    p = _packed(b)
    err = {"panels": [], "own loops": []}
    for _ in range(40):
        a, c = rng.standard_normal((1, K)).astype(dtype), rng.standard_normal((1, M)).astype(dtype)
        exact = c.astype(wide) + a.astype(wide) @ b.astype(wide)
        own = products.matmul_add(c, a, b, 0)            # one row: the own loops
        for name, got in (("panels", panels.panels_add(c, a, p)), ("own loops", own)):
            err[name].append(np.mean((got.astype(wide) - exact) ** 2))
    assert np.sqrt(np.mean(err["panels"]) / np.mean(err["own loops"])) <= 1.25


@pytest.mark.kernel
@pytest.mark.skipif(not llvmlite.binding.get_host_cpu_features().get("fma", False),
                    reason="the CPU has no FMA: the loop would round twice where the vectors fuse")
@pytest.mark.parametrize("dtype", DTYPES)
def test_panels_in_a_strided_view_give_the_same_product(dtype):
    """Panels whose rows are not contiguous take the loop in place of the 512-bit vectors,
    fused multiply-adds too (with the JIT off both are plain Python: the same two roundings)."""
    rng = np.random.default_rng(4)
    nr = panels.panel_width(dtype)
    a, b = rng.standard_normal((9, 13)).astype(dtype), rng.standard_normal((13, 2 * nr)).astype(dtype)
    p = _packed(b)
    wide = np.zeros(p.shape[:2] + (2 * nr,), dtype)
    wide[:, :, ::2] = p
    strided = wide[:, :, ::2]                        # the same panels, every other element in memory
    assert not strided.flags.c_contiguous
    assert np.array_equal(panels.panels_add(None, a, strided), panels.panels_add(None, a, p))


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="with NUMBA_DISABLE_JIT=1 nothing is compiled: no machine code to read")
@pytest.mark.skipif(not panels.wide_registers(), reason="the CPU has no AVX-512: 512-bit vectors would be split")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("add", [False, True])
@pytest.mark.parametrize("name, rows", [("_row_group", panels.ROWS), ("_row_pair", panels.PAIR)])
def test_the_tile_is_summed_in_512_bit_vectors(dtype, add, name, rows):
    """The compiled group of rows (eight, or a pair) multiplies in zmm registers, as
    ``vectors.fma_row`` writes it (Numba's own loops get 256-bit vectors on CPUs that prefer
    them), and adds its sums into the output as ``vectors.store_row`` does, a vector at a time:
    no scalar add; and asks for the panel's rows ahead (``vectors.prefetch_row``; x86's prefetch
    for the locality asked), here past the panel's end, which changes no result. Compiled here
    without the disk cache, whose code Numba cannot show."""
    group = numba.njit(cache=False, error_model="numpy", fastmath={"contract"})(getattr(panels, name).py_func)
    a, b = np.ones((rows, 16), dtype), np.ones((16, panels.panel_width(dtype)), dtype)
    out = np.full((rows + 1, b.shape[1]), 3, dtype)
    group(out, add, a, _packed(b)[0], 0, 0, rows - 1)
    assert np.all(out[:rows] == (19 if add else 16))
    assert np.all(out[rows] == 3)                           # a group writes its own rows only
    asm = group.inspect_asm(group.signatures[0])
    assert re.search(r"vfmadd\w+\s[^\n]*%zmm", asm)
    assert re.search(r"vaddp[sd]\s[^\n]*%zmm", asm)   # the compiled code holds both branches of add
    assert not re.search(r"vadds[sd]\s", asm)
    prefetch = {3: "prefetcht0", 2: "prefetcht1", 1: "prefetcht2", 0: "prefetchnta"}[vectors.PREFETCH_LOCALITY]
    assert re.search(rf"{prefetch}\s", asm)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="with NUMBA_DISABLE_JIT=1 nothing is compiled: no machine code to read")
@pytest.mark.skipif(not panels.wide_registers(), reason="the CPU has no AVX-512: 512-bit vectors would be split")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("add", [False, True])
def test_one_row_is_summed_in_512_bit_vectors(dtype, add):
    """The compiled one-row group (``_one_row_group``, four panels) multiplies each four panel
    rows in zmm registers, a product then multiply-adds, as ``vectors.fma_four_rows`` writes
    them, adds them to its sums and stores those a vector at a time: no scalar add. K = 18, so
    its last two rows take ``vectors.fma_row``."""
    group = numba.njit(cache=False, error_model="numpy", fastmath={"contract"})(panels._one_row_group.py_func)
    nr = panels.panel_width(dtype)
    a, b = np.ones((1, 18), dtype), np.ones((18, 5 * nr), dtype)
    out = np.full((1, 5 * nr), 3, dtype)
    group(out, add, a, _packed(b), 0)
    assert np.all(out[0, :4 * nr] == (21 if add else 18))
    assert np.all(out[0, 4 * nr:] == 3)                    # the group writes its four panels' columns only
    asm = group.inspect_asm(group.signatures[0])
    assert re.search(r"vfmadd\w+\s[^\n]*%zmm", asm)
    assert re.search(r"vmulp[sd]\s[^\n]*%zmm", asm)
    assert re.search(r"vaddp[sd]\s[^\n]*%zmm", asm)
    assert not re.search(r"vadds[sd]\s", asm)

@pytest.mark.kernel
def test_wrong_shapes_raise():
    b = np.zeros((8, 64), np.float32)
    with pytest.raises(ValueError, match="multiple of 32"):
        panels.panels_shape(8, 48, np.float32)
    with pytest.raises(ValueError, match="pack_into"):
        panels.pack_into(b, np.empty((2, 7, 32), np.float32))
    with pytest.raises(ValueError, match="panels_add"):
        panels.panels_add(None, np.zeros((2, 9), np.float32), _packed(b))
    with pytest.raises(ValueError, match="panels_add"):
        panels.panels_add(np.zeros((2, 32), np.float32), np.zeros((2, 8), np.float32), _packed(b))
    with pytest.raises(ValueError, match="PANEL_BYTES"):                # panels 16 wide for float32
        panels.panels_add(None, np.zeros((2, 8), np.float32), np.zeros((4, 8, 16), np.float32))
    with pytest.raises(ValueError, match="one dtype"):                  # float64 rows, float32 panels
        panels.panels_add(None, np.zeros((2, 8), np.float64), _packed(b))


def test_use_panels_rule(monkeypatch):
    f32 = np.float32
    monkeypatch.setattr(panels, "wide_registers", lambda: False)
    assert not panels.use_panels(16, 512, 2048, f32)                # measured on AVX-512 only
    monkeypatch.setattr(panels, "wide_registers", lambda: True)
    assert panels.use_panels(8, 512, 2048, f32)
    assert panels.use_panels(64, 512, 2048, f32)
    assert panels.use_panels(64, 2048, 512, np.float64)
    assert panels.use_panels(8, 128, 128, f32)                      # where BLAS's small-matrix kernel would take it
    assert not panels.use_panels(7, 512, 2048, f32)                 # fewer than MIN_ROWS
    assert not panels.use_panels(65, 512, 2048, f32)                # more than MAX_ROWS: BLAS
    assert not panels.use_panels(8, 500, 2000, f32)                 # M not a multiple of 32
    assert not panels.use_panels(16, 64, 128, f32)                  # small weights
    assert not panels.use_panels(16, 64, 256, f32)                  # a side under 128: not measured
    assert panels.use_panels(1, 128, 512, f32)                      # one row, b of at most ONE_ROW_MAX_BYTES
    assert panels.use_panels(1, 32, 128, f32) and panels.use_panels(1, 512, 128, np.float64)
    assert panels.use_panels(1, 256, 1024, f32)                     # 1 MiB
    assert not panels.use_panels(1, 256, 1024, np.float64)          # 2 MiB: BLAS's threads
    assert not panels.use_panels(1, 512, 2048, f32)
    assert not panels.use_panels(1, 32, 48, f32)                    # M not a multiple of 32
    monkeypatch.setattr(panels, "wide_registers", lambda: False)
    assert not panels.use_panels(1, 128, 512, f32)


def test_layout_keeps_serial_passes_of_many_rows_and_the_jit_off_plain(monkeypatch):
    """A serial pass of more than SMALL_N rows leaves its products to BLAS on all threads;
    with the JIT off, the panels' loops would run as Python: plain weights there too."""
    monkeypatch.setattr(panels, "wide_registers", lambda: True)
    monkeypatch.setattr(numba.config, "DISABLE_JIT", False)         # the rule with the JIT on, whatever this run's
    f32 = np.float32
    assert layout._panels(2, 32, 512, 2048, f32)                    # two blocks of 16 rows
    assert layout._panels(1, 8, 512, 2048, f32)                     # serial, 8 rows: against the own loops
    assert not layout._panels(1, 16, 512, 2048, f32)                # serial, 16 rows: BLAS's threads
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    assert not layout._panels(2, 32, 512, 2048, f32)


@pytest.mark.parametrize("kind,proj", KINDS)
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_pass_from_panels_computes_what_it_does_without(monkeypatch, kind, proj, ragged, threads):
    """float64, N = 13 (one thread: all 13 rows in one block; two threads: blocks of 6 and 7),
    H = 96 and P = 48 (multiples of the 16-column panels), with the panels forced on and then
    off.

    The passes without panels are the ones the parity tests hold against torch. The two differ
    only in the order each step's products are summed (a panel's sums start from zero and add
    c last), a rounding difference carried through a recurrence that does not amplify it
    (weights of torch's scale): as for blocks against the serial pass, at most a few units in
    the last place of each array's largest value; the bound, 1e-13 of it (450 eps), and a
    wrong row, column or panel is off by far more.
    """
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("this machine runs Numba on one thread")
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        T, N, I, H, P = 20, 13, 12, 96, 48
        rng = np.random.default_rng(1)
        p = layer_params(kind, proj, N, I, H, P, rng)
        x = rng.standard_normal((T, N, I))
        lengths = rng.integers(1, T + 1, N) if ragged else None
        nb = layout.blocks(T, N, p["w_hh"])
        assert nb == threads                                           # this size runs in blocks on 2
        lb = layout.loop_blocks(nb, N, p["w_hh"])
        monkeypatch.setattr(layout, "_panels", lambda *args: True)
        assert layout.forward_weights(p["w_hh"], N, lb).ndim == 3          # the panels are used ...
        assert layout.backward_weights(p["w_hh"], T, N, lb).ndim == 3
        with_panels = run_layer(kind, x, p, lengths, proj)
        monkeypatch.setattr(layout, "_panels", lambda *args: False)
        assert layout.forward_weights(p["w_hh"], N, lb).ndim == 2          # ... and then not
        without = run_layer(kind, x, p, lengths, proj)
    finally:
        numba.set_num_threads(before)
    assert len(with_panels) == len(without)
    for a, b in zip(with_panels, without):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * np.max(np.abs(b)))


@pytest.mark.parametrize("kind,proj", KINDS)
def test_one_sequence_from_panels_computes_what_it_does_without(monkeypatch, kind, proj):
    """One sequence, float64, H = 96 and P = 48, with the panels forced on (every step's product
    one row's, ``_one_row_group`` and, past the last four panels, ``_one_row_single``) and then
    off (the own loops). Both sum each four products before adding them to the running sum; the
    compiled code may fuse other pairs of them. Bound as for the passes in row blocks above."""
    T, N, I, H, P = 20, 1, 12, 96, 48
    rng = np.random.default_rng(2)
    p = layer_params(kind, proj, N, I, H, P, rng)
    x = rng.standard_normal((T, N, I))
    monkeypatch.setattr(layout, "_panels", lambda *args: True)
    assert layout.forward_weights(p["w_hh"], N, 1).ndim == 3
    assert layout.backward_weights(p["w_hh"], T, N, 1).ndim == 3
    with_panels = run_layer(kind, x, p, None, proj)
    monkeypatch.setattr(layout, "_panels", lambda *args: False)
    assert layout.forward_weights(p["w_hh"], N, 1).ndim == 2
    without = run_layer(kind, x, p, None, proj)
    assert len(with_panels) == len(without)
    for a, b in zip(with_panels, without):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * np.max(np.abs(b)))
