"""Row blocks on all cores (``scratchrnn.kernels.team``) and the compiled passes' stages
(``scratchrnn.kernels.passes``): the rule, the blocked GEMMs, BLAS's thread count, and that a
blocked pass computes what the serial pass does."""

import numba
import numpy as np
import pytest

from scratchrnn import layout
from scratchrnn.kernels import panels, passes, team
from layer_cases import KINDS, layer_params, run_layer

F32 = np.float32

pytestmark = pytest.mark.kernel


@pytest.fixture
def threads():
    """Set Numba's thread count for one test; restored after."""
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)


def test_blocks_rule(threads):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("this machine runs Numba on one thread: every pass is serial")
    threads(2)
    assert team.blocks(128, 1, 1024, 4096, F32) == 1                # one sequence: nothing to split
    assert team.blocks(128, 16, 128, 512, F32) == 2
    assert team.blocks(128, 7, 128, 512, F32) == 1                  # fewer than MIN_ROWS rows per thread
    # 32 rows per thread: their products from panels (on AVX-512 CPUs; elsewhere serial, as before)
    assert team.blocks(128, 64, 512, 2048, F32) == (2 if panels.wide_registers() else 1)
    assert team.blocks(128, 64, 500, 2000, F32) == 1                # ... which need G·H, H multiples of 32 columns
    assert team.blocks(128, 128, 512, 2048, F32) == (2 if panels.wide_registers() else 1)   # 64 rows: panels too
    # 128 rows per thread of a big product: in blocks where the panels take them cut in two
    assert team.blocks(128, 256, 512, 2048, F32) == (2 if panels.wide_registers() else 1)
    assert team.blocks(128, 256, 500, 2000, F32) == 1               # ... else serial, BLAS on its threads
    assert team.blocks(128, 32, 512, 2048, F32) == 2                # 16 rows per thread: still in blocks
    # 32 rows per thread of 128 × 512: in blocks where they can be cut to fit the small-matrix kernels
    # or the panels take them
    assert team.blocks(128, 64, 128, 512, F32) == (2 if team.small_matrix_kernels() or panels.wide_registers() else 1)
    assert team.blocks(128, 16, 2, 2, F32) == 1                     # too little work
    assert team.blocks(32, 16, 32, 32, F32) == 1                    # 32·8·32·32 < MIN_WORK multiply-adds per block
    threads(1)
    assert team.blocks(128, 256, 512, 2048, F32) == 1               # one thread: serial


def test_blocks_leave_no_core_idle_behind_big_weights(monkeypatch):
    """On 16 threads, 16 rows make 4 blocks: serial where each block would read ≥ 1 MiB of W_hh
    every step (IDLE_CORES_MAX_WEIGHT_BYTES), blocks where W_hh is smaller or every thread has one."""
    monkeypatch.setattr(team.numba, "get_num_threads", lambda: 16)
    assert team.blocks(128, 16, 512, 2048, F32) == 1                # LSTM H=512: W_hh 4 MiB, 12 cores idle
    assert team.blocks(128, 16, 512, 512, F32) == 1                 # RNN H=512: 1 MiB
    assert team.blocks(128, 16, 256, 512, F32) == 4                 # 512 KiB: still in blocks
    assert team.blocks(128, 16, 256, 512, np.float64) == 1          # ... 1 MiB in float64
    assert team.blocks(128, 64, 512, 2048, F32) == 16               # a block on every thread


def test_loop_blocks_fit_the_small_matrix_kernels(monkeypatch):
    monkeypatch.setattr(team, "small_matrix_kernels", lambda: True)
    monkeypatch.setattr(panels, "wide_registers", lambda: False)     # no panels
    assert team.loop_blocks(1, 64, 128, 512, F32) == 1         # a serial pass stays one call
    assert team.loop_blocks(2, 16, 128, 512, F32) == 2         # 8 rows × 128 × 512 fit
    assert team.loop_blocks(2, 64, 128, 512, F32) == 6         # 32 rows do not: 3 blocks of ≤ 15 per thread
    assert team.loop_blocks(2, 64, 512, 512, F32) == 2         # 3 rows would fit: not cut that small
    monkeypatch.setattr(panels, "wide_registers", lambda: True)
    assert team.loop_blocks(2, 64, 128, 512, F32) == 2         # 32 rows from panels: not cut
    assert team.loop_blocks(2, 256, 128, 512, F32) == 4        # 128 rows: two blocks of 64 from panels
    assert team.loop_blocks(2, 260, 512, 2048, F32) == 6       # 130 rows: three of ≤ 44 (not 64, 64, 2)
    assert team.loop_blocks(2, 256, 512, 500, F32) == 2        # panels need G·H a multiple of 32 columns
    monkeypatch.setattr(team, "small_matrix_kernels", lambda: False)
    assert team.loop_blocks(2, 64, 128, 512, F32) == 2         # no such kernels: one block per thread


@pytest.mark.parametrize("nblocks", [1, 2, 3])
@pytest.mark.parametrize("bias", ["none", "b_ih", "both"])
def test_projection_in_row_blocks(nblocks, bias):
    """``passes.project`` = x W_ihᵀ + b_ih + b_hh, in one GEMM or its rows in blocks."""
    rng = np.random.default_rng(0)
    x, w_ih = rng.standard_normal((37, 11)), rng.standard_normal((5, 11))
    b_ih, b_hh = rng.standard_normal(5), rng.standard_normal(5)
    empty = np.empty(0)
    out = np.full((37, 5), np.nan)
    args = (x, w_ih, b_ih if bias != "none" else empty, b_hh if bias == "both" else empty, out)
    passes.project(*args) if nblocks == 1 else passes.project_blocks(*args, nblocks)
    want = x @ w_ih.T + {"none": 0, "b_ih": b_ih, "both": b_ih + b_hh}[bias]
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)    # 11 terms of O(1): rounding only


@pytest.mark.parametrize("pieces", [False, True, "groups"])
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("nblocks", [1, 2, 3])
def test_gradient_gemms_in_row_blocks(nblocks, chunked, pieces):
    """``passes.param_grads``: dx, dW_ih, dW_hh and both bias sums, the T·N rows in blocks
    (partial sums added after) or in one GEMM each, dW_hh in chunks of rows or not, the GEMMs
    in pieces of rows or not (pieces of 10 rows: a block's last one shorter), the weight
    gradients of each piece in groups of 5 of da's 12 columns or not, against NumPy. dx is overwritten; the weight and bias gradients are added into what their arrays
    held (a module's accumulating grads), the partial sums' scratch overwritten."""
    rng = np.random.default_rng(0)
    R, I, P, GH = 37, 11, 7, 12
    x2, h2, w_ih = rng.standard_normal((R, I)), rng.standard_normal((R, P)), rng.standard_normal((GH, I))
    d_a2, d_ah2 = rng.standard_normal((R, GH)), rng.standard_normal((R, GH))
    dx2 = np.full((R, I), np.nan)
    held = [rng.standard_normal(shape) for shape in ((GH, I), (GH, P), GH, GH)]
    dw_ih, dw_hh, db_ih, db_hh = (a.copy() for a in held)
    partial_ih, partial_hh = np.full((nblocks - 1, GH, I), np.nan), np.full((nblocks - 1, GH, P), np.nan)
    chunk_rows = 5 if chunked else R
    args = (x2, h2, w_ih, d_a2, d_ah2, dx2, dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh, chunk_rows,
            10 if pieces else R, 5 if pieces == "groups" else GH)
    passes.param_grads(*args) if nblocks == 1 else passes.param_grads_blocks(*args, nblocks)
    np.testing.assert_allclose(dx2, d_a2 @ w_ih, rtol=1e-13, atol=1e-13)   # ≤ 37 terms of O(1): rounding only
    for got, before, want in ((dw_ih, held[0], d_a2.T @ x2), (dw_hh, held[1], d_ah2.T @ h2),
                              (db_ih, held[2], d_a2.sum(axis=0)), (db_hh, held[3], d_ah2.sum(axis=0))):
        np.testing.assert_allclose(got, before + want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("nblocks", [1, 2, 3])
def test_gradient_gemms_without_the_input_gradient(nblocks):
    """An empty dx2 (0, I) skips dx; the weight and bias gradients are the same bits as with it."""
    rng = np.random.default_rng(0)
    R, I, P, GH = 37, 11, 7, 12
    x2, h2, w_ih = rng.standard_normal((R, I)), rng.standard_normal((R, P)), rng.standard_normal((GH, I))
    d_a2 = rng.standard_normal((R, GH))
    results = []
    for dx2 in (np.empty((R, I)), np.empty((0, I))):
        out = [np.zeros((GH, I)), np.zeros((GH, P)), np.zeros(GH), np.zeros(GH)]   # the sums are added in
        args = (x2, h2, w_ih, d_a2, np.empty((0, GH)), dx2, *out,
                np.empty((nblocks - 1, GH, I)), np.empty((nblocks - 1, GH, P)), 4, 8, GH)
        passes.param_grads(*args) if nblocks == 1 else passes.param_grads_blocks(*args, nblocks)
        results.append(out)
    dw_ih, dw_hh, db_ih, db_hh = results[0]
    for got, want in ((dw_ih, d_a2.T @ x2), (dw_hh, d_a2.T @ h2), (db_ih, d_a2.sum(axis=0)), (db_hh, db_ih)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)   # ≤ 37 terms of O(1): rounding only
    for with_dx, without in zip(*results):
        np.testing.assert_array_equal(without, with_dx)


@pytest.mark.parametrize("nblocks", [1, 2])
def test_projection_gradient_skips_padded_steps(nblocks):
    """``passes.projection_grad``: Σ_t dh_tᵀ m_t over each sequence's valid steps only, added
    into what dw_hr held."""
    rng = np.random.default_rng(0)
    T, N, P, H = 5, 3, 4, 6
    dh, m = rng.standard_normal((T, N, P)), rng.standard_normal((T, N, H))
    lengths = np.array([5, 2, 3])
    held = rng.standard_normal((P, H))
    dw_hr = held.copy()
    args = (dh, m, lengths, np.empty((T, N, P)), dw_hr, np.full((nblocks - 1, P, H), np.nan))
    passes.projection_grad(*args) if nblocks == 1 else passes.projection_grad_blocks(*args, nblocks)
    valid = (np.arange(T)[:, None] < lengths[None, :])[:, :, None]
    want = np.einsum("tnp,tnh->ph", dh * valid, m)
    np.testing.assert_allclose(dw_hr, held + want, rtol=1e-13, atol=1e-13)


def test_serial_blas_holds_blas_on_one_thread_and_restores_it():
    libs = team.serial_blas.libraries()
    assert libs, "threadpoolctl found no BLAS library"
    before = [lib.get_num_threads() for lib in libs]
    with team.serial_blas(2):
        assert [lib.get_num_threads() for lib in libs] == [1] * len(libs)
    assert [lib.get_num_threads() for lib in libs] == before
    with team.serial_blas(1):                                  # serial pass: BLAS keeps its threads
        assert [lib.get_num_threads() for lib in libs] == before


def test_a_wrong_shape_raises_before_the_blocks_run():
    """A pass in row blocks checks its kernel's shapes first, where the error reaches the caller."""
    T, N, H = 3, 8, 4
    xw = np.zeros((T, N, H))
    h = np.zeros((T + 1, N, H))
    with pytest.raises(ValueError, match="rnn_forward_kernel: expected h of shape"):
        passes.rnn_forward_blocks(1, 2, np.zeros((T * N, H)), np.zeros((H, H)), np.empty(0), np.empty(0),
                                xw.reshape(T * N, H), xw, np.zeros((H, H)), np.ascontiguousarray(h[:, :-1]),
                                False, np.full(N, T), 0)


@pytest.mark.parametrize("kind,proj", KINDS)
@pytest.mark.parametrize("ragged", [False, True])
def test_a_blocked_pass_computes_what_the_serial_pass_does(threads, kind, proj, ragged):
    """float64, N = 13 rows in blocks of 6 and 7 (H = 96: enough work for blocks), against the
    same pass on one thread.

    The serial pass is the one the parity tests hold against torch. The two differ only in
    how sums are split: per-step products of 6–7 rows or of 13 (different BLAS kernels), and
    the weight gradients summed over T·N in two halves: rounding only, carried through a
    recurrence that does not amplify it (weights of torch's scale). Measured: at most
    1.6e-15 of each array's largest value; the bound, 1e-13 of it (450 eps), leaves room
    for other BLAS kernels, and a wrong row, step or block is off by far more.
    """
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("this machine runs Numba on one thread: no blocked pass to compare")
    T, N, I, H, P = 20, 13, 12, 96, 48
    rng = np.random.default_rng(1)
    p = layer_params(kind, proj, N, I, H, P, rng)
    x = rng.standard_normal((T, N, I))
    lengths = rng.integers(1, T + 1, N) if ragged else None
    threads(2)
    assert layout.blocks(T, N, p["w_hh"]) == 2                     # this size really runs in blocks
    blocked = run_layer(kind, x, p, lengths, proj)
    threads(1)
    assert layout.blocks(T, N, p["w_hh"]) == 1
    serial = run_layer(kind, x, p, lengths, proj)
    assert len(blocked) == len(serial)
    for b, s in zip(blocked, serial):
        np.testing.assert_allclose(b, s, rtol=0, atol=1e-13 * np.max(np.abs(s)))


@pytest.mark.parametrize("kind,proj", KINDS)
def test_a_pass_with_its_threads_rows_cut_for_the_panels_computes_what_the_serial_pass_does(
        threads, kind, proj):
    """float64, N = 130 rows: two threads' blocks of 65, each run as two loop blocks of 33 and 32
    rows (on AVX-512 CPUs, where the panels take them: H = P = 128), against one thread.
    Rounding only, as in the test above, and the same bound."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("this machine runs Numba on one thread: no blocked pass to compare")
    T, N, I, H, P = 3, 130, 16, 128, 128
    rng = np.random.default_rng(2)
    p = layer_params(kind, proj, N, I, H, P, rng)
    x = rng.standard_normal((T, N, I))
    lengths = rng.integers(1, T + 1, N)
    threads(2)
    nb = layout.blocks(T, N, p["w_hh"])
    if nb == 1:                                  # 65 rows per thread: serial without panels or small-matrix kernels
        pytest.skip("this BLAS and CPU run 65 rows per thread as one serial pass: no blocks to compare")
    if panels.wide_registers():
        assert layout.loop_blocks(nb, N, p["w_hh"]) == 4           # 2 per thread: 65 rows > panels.MAX_ROWS
    blocked = run_layer(kind, x, p, lengths, proj)
    threads(1)
    serial = run_layer(kind, x, p, lengths, proj)
    for b, s in zip(blocked, serial, strict=True):
        np.testing.assert_allclose(b, s, rtol=0, atol=1e-13 * np.max(np.abs(s)))


@pytest.mark.parametrize("kind, proj", KINDS)
def test_recurrent_weight_gradient_is_chunked_for_the_rnn_and_gru_only(monkeypatch, kind, proj):
    """The backward pass gets chunks of max(T, N) rows for dW_hh from the RNN and GRU (as
    torch sums them, per step), all T·N rows (one GEMM) from the LSTM (as torch's oneDNN)."""
    T, N = 7, 3
    seen = []
    name = {"lstm": "lstm_backward_pass", "gru": "gru_backward_pass"}.get(kind, "rnn_backward_pass")
    real = getattr(passes, name)

    def spy(*args):
        seen.append(args[12])                        # param_grads's chunk_rows
        return real(*args)
    monkeypatch.setattr(passes, name, spy)
    rng = np.random.default_rng(0)
    p = layer_params(kind, proj, N, 4, 5, 3, rng)
    run_layer(kind, rng.standard_normal((T, N, 4)), p, None, proj)
    assert seen == [T * N if kind == "lstm" else max(T, N)]
