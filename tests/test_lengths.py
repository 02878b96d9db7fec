"""Variable-length batches against torch's pack_padded_sequence(enforce_sorted=False).

Each sequence stops at its own length: its final state is taken there, its padded
outputs are zero, and the reverse direction starts at its own end. The padding is
filled with random numbers: it must not influence anything.
"""

import itertools

import numpy as np
import pytest

import scratchrnn as sr
from scratchrnn.apps import verify
from tolerances import F64_TORCH

CASES = list(itertools.product(["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"], [1, 2],
                               [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("model, layers, bidirectional, batch_first, with_hx", CASES,
                         ids=["-".join(map(str, c)) for c in CASES])
def test_matches_packed_sequences(torch, model, layers, bidirectional, batch_first, with_hx):
    """(V1), (V2), and (P3) masked under (V2): the modules with lengths = torch's packed sequences."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    T, N, I, H = 6, 4, 3, 4
    cfg = verify.Config(model, layers, bidirectional, True, batch_first, with_hx, "float64",
                        T=T, N=N, I=I, H=H)
    m, tm = verify.build(cfg, seed=1)
    rng = np.random.default_rng(layers * 7 + bidirectional)
    lengths = np.array([6, 2, 5, 1])                       # unsorted, one full, one of length 1
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I))   # padding is random too
    D, lstm = (2 if bidirectional else 1), cfg.is_lstm
    sizes = (cfg.proj_size or H, H) if lstm else (H,)
    states = [rng.standard_normal((layers * D, N, F)) for F in sizes] if with_hx else None
    hx = (tuple(states) if lstm else states[0]) if with_hx else None

    out, fin = m(x, hx, lengths=lengths)
    fin = fin if lstm else (fin,)
    ups = [rng.standard_normal(a.shape) for a in (out,) + tuple(fin)]
    dx, d0 = m.backward(ups[0], tuple(ups[1:]) if lstm else ups[1])
    d0 = d0 if lstm else (d0,)

    tx = torch.tensor(x, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states] if with_hx else None
    packed = pack_padded_sequence(tx, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    t_out, t_fin = tm(packed, (tuple(ts) if lstm else ts[0]) if ts else None)
    t_out, _ = pad_packed_sequence(t_out, batch_first=batch_first, total_length=T)
    t_fin = t_fin if lstm else (t_fin,)
    sum((t * torch.tensor(u)).sum() for t, u in zip((t_out,) + tuple(t_fin), ups)).backward()

    close = F64_TORCH
    np.testing.assert_allclose(out, t_out.detach().numpy(), **close)
    for a, t in zip(fin, t_fin):
        np.testing.assert_allclose(a, t.detach().numpy(), **close)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **close)
    if with_hx:
        for a, t in zip(d0, ts):
            np.testing.assert_allclose(a, t.grad.numpy(), **close)
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(m.grads[k], p.grad.numpy(), **close, err_msg=k)
    # padded outputs are exactly zero, and padded inputs get no gradient
    pad = np.arange(T)[:, None] >= lengths[None, :]        # (T, N)
    pad = pad.T if batch_first else pad
    assert np.all(out[pad] == 0) and np.all(dx[pad] == 0)


def test_full_lengths_equal_no_lengths():
    m = sr.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    a, (h1, c1) = m(x)
    b, (h2, c2) = m(x, lengths=[5, 5])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(c1, c2)


@pytest.mark.parametrize("lengths, err, match", [
    ([5, 0], ValueError, r"lengths must be in 1\.\.5 \(the padded length\), got 0"),
    ([5, 6], ValueError, r"lengths must be in 1\.\.5 .* got 6"),
    ([5], ValueError, r"expected lengths of shape \(2,\), got \(1,\)"),
    ([5.0, 2.0], TypeError, r"expected integer lengths, got dtype float64"),
])
def test_bad_lengths_are_refused(lengths, err, match):
    m = sr.GRU(3, 4, dtype=np.float64)
    with pytest.raises(err, match=match):
        m(np.zeros((5, 2, 3)), lengths=lengths)
    with pytest.raises(ValueError, match="lengths needs batched input"):
        m(np.zeros((5, 3)), lengths=[5])
