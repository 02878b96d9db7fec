"""One sequence's backward product ``da_t W_hh`` from a copy of ``W_hhᵀ`` (``layout.
backward_weights``): the rule that picks it, and whole passes that use it against the same
passes on ``W_hh`` itself."""

import numpy as np
import pytest

from scratchrnn import layout
from layer_cases import KINDS, layer_params, run_layer


def test_one_row_backward_rule():
    """The copy for one row, T ≥ ONE_ROW_COPY_MIN_T and W_hh of more than 2 MiB, at most 6 MiB,
    or 16 MiB for a tall W_hh (G·H ≥ 3P: the LSTM's and GRU's); W_hh itself otherwise. The copy
    is W_hh's values, F-ordered (a view of W_hhᵀ's copy)."""
    lo, hi = layout.ONE_ROW_COPY_BYTES
    T = layout.ONE_ROW_COPY_MIN_T
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2048, 512)).astype(np.float32)       # LSTM H=512: 4 MB
    assert lo < w.nbytes <= hi
    b = layout.backward_weights(w, T, 1, 1)
    assert b is not w and b.flags.f_contiguous and not b.flags.c_contiguous
    np.testing.assert_array_equal(b, w)
    assert layout.backward_weights(w, T - 1, 1, 1) is w               # too few steps to pay for the copy
    assert layout.backward_weights(w, T, 2, 1) is w                   # two rows: not a matrix-vector product
    small = np.ascontiguousarray(w[:1024])                            # 2 MB: fits in cache either way
    assert layout.backward_weights(small, T, 1, 1) is small
    square = rng.standard_normal((1024, 1024))                         # float64, 8 MiB, square: no faster
    assert layout.backward_weights(square, T, 1, 1) is square
    for tall in (w.astype(np.float64),                                # float64 LSTM H=512: 8 MiB
                 rng.standard_normal((4096, 1024)).astype(np.float32)):   # LSTM H=1024: 16 MiB
        assert tall.nbytes <= layout.ONE_ROW_COPY_TALL_MAX
        np.testing.assert_array_equal(layout.backward_weights(tall, T, 1, 1), tall)
        assert layout.backward_weights(tall, T, 1, 1).flags.f_contiguous
    taller = rng.standard_normal((4096, 1024))                        # float64, 32 MiB: not measured
    assert layout.backward_weights(taller, T, 1, 1) is taller


@pytest.mark.kernel
@pytest.mark.parametrize("kind,proj", KINDS)
@pytest.mark.parametrize("ragged", [False, True])
def test_a_one_row_pass_from_the_copy_computes_what_it_does_without(monkeypatch, kind, proj, ragged):
    """float64, N = 1, T = 9, H = 40 (P = 24): the same layer with the copy's sizes and steps
    lowered so that it takes the copy, against the layer as it runs (there, at this size, with
    the own loops on W_hh itself). The two products sum the same terms in another order:
    rounding only, with the bound of
    ``test_team``'s blocked-against-serial test (1e-13 of each array's largest value)."""
    T, N, I, H, P = 9, 1, 7, 40, 24
    rng = np.random.default_rng(3)
    p = layer_params(kind, proj, N, I, H, P, rng)
    x = rng.standard_normal((T, N, I))
    lengths = np.array([5]) if ragged else None
    plain = run_layer(kind, x, p, lengths, proj)
    monkeypatch.setattr(layout, "ONE_ROW_COPY_BYTES", (0, p["w_hh"].nbytes))
    monkeypatch.setattr(layout, "ONE_ROW_COPY_MIN_T", T)
    assert layout.backward_weights(p["w_hh"], T, N, 1).flags.f_contiguous   # the copy is taken
    copied = run_layer(kind, x, p, lengths, proj)
    for a, b in zip(copied, plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * np.max(np.abs(b)))
