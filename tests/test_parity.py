"""Property tests: scratchrnn against torch for random sizes and every option.

The comparison machinery is ``scratchrnn.apps.verify.check_torch`` (same weights,
non-contiguous input, random upstream gradients on out/h_n/c_n, all gradients
compared). ``test_harness_catches_a_wrong_gradient`` proves it can fail, and
``test_lstm_direct`` repeats one case with nothing but torch and NumPy, so the
harness is not the only witness.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchrnn as sr
from scratchrnn.kernels import passes
from scratchrnn.apps import verify
from tolerances import F64_TORCH

torch = pytest.importorskip("torch", reason="needs torch (not installed): every test compares with it")

configs = st.builds(
    verify.Config,
    model=st.sampled_from(verify.MODELS),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    bias=st.booleans(),
    batch_first=st.booleans(),
    initial_state=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]),
    T=st.integers(1, 7),
    N=st.integers(1, 4),
    I=st.integers(1, 5),
    H=st.integers(1, 6),
).filter(lambda c: c.model != "lstm_proj" or c.H >= 2)      # a projection needs P = H // 2 >= 1


@settings(max_examples=150)
@given(cfg=configs, seed=st.integers(0, 2**31 - 1))
def test_matches_torch(cfg, seed):
    """Output, final states, dx, dh0, dc0 and every parameter gradient agree with torch.

    float64: max-norm relative error ≤ 1e-10 (same arithmetic, different order);
    float32: torch.testing.assert_close defaults.
    """
    res = verify.check_torch(cfg, seed)
    lstm = cfg.is_lstm
    expected = {"out", "h_n", "dx"} | ({"c_n"} if lstm else set())
    if cfg.initial_state:
        expected |= {"dh0", "dc0"} if lstm else {"dh0"}
    assert expected <= set(res)
    n_params = len(verify.build(cfg, seed)[0].state_dict())
    assert sum(k.startswith(("weight", "bias")) for k in res) == n_params
    bad = {k: e for k, (e, ok) in res.items() if not ok}
    assert not bad, f"{cfg.name}: {bad}"


def test_harness_catches_a_wrong_gradient(monkeypatch):
    """Swap the input and forget gate gradients of the LSTM backward's da (its time loop's
    output), then take the weight and input gradients from it: the check must fail."""
    def wrong(real, blocked):
        def run(*args):
            grads = args[2:17] if blocked else args[:15]      # param_grads's arguments
            held = [a.copy() for a in grads[6:10]]            # dw_ih, dw_hh, db_ih, db_hh, which it adds into
            real(*args)
            for a, before in zip(grads[6:10], held):
                a[...] = before
            d_a2 = grads[3]                                   # (T·N, 4H)
            H = d_a2.shape[1] // 4
            d_a2[:, :H], d_a2[:, H:2 * H] = d_a2[:, H:2 * H].copy(), d_a2[:, :H].copy()
            passes.param_grads(*grads)
        return run

    monkeypatch.setattr(passes, "lstm_backward_pass", wrong(passes.lstm_backward_pass, False))
    monkeypatch.setattr(passes, "lstm_backward_blocks", wrong(passes.lstm_backward_blocks, True))
    res = verify.check_torch(verify.Config("lstm"))
    assert res["out"][1] and res["h_n"][1]                 # the forward is untouched
    assert not res["weight_ih_l0"][0] < 1e-3 and not res["weight_ih_l0"][1]
    assert not res["dx"][1]


def test_lstm_direct():
    """One bidirectional 2-layer batch_first LSTM, compared with plain torch code."""
    rng = np.random.default_rng(7)
    m = sr.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, seed=3)
    tm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = rng.standard_normal((2, 5, 3))                    # (N, T, I)
    h0, c0 = rng.standard_normal((2, 4, 2, 4))            # each (D·L, N, H)
    out, (h_n, c_n) = m(x, (h0, c0))
    d_out, d_h, d_c = (rng.standard_normal(a.shape) for a in (out, h_n, c_n))
    dx, (dh0, dc0) = m.backward(d_out, (d_h, d_c))

    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    t_out, (t_h, t_c) = tm(tx, (th0, tc0))
    ((t_out * torch.tensor(d_out)).sum() + (t_h * torch.tensor(d_h)).sum()
     + (t_c * torch.tensor(d_c)).sum()).backward()
    for ours, ref in [(out, t_out), (h_n, t_h), (c_n, t_c), (dx, tx.grad), (dh0, th0.grad),
                      (dc0, tc0.grad)] + [(m.grads[k], p.grad) for k, p in tm.named_parameters()]:
        np.testing.assert_allclose(ours, ref.detach().numpy(), **F64_TORCH)
    # the reverse half of h_n is the state after reading x_1, i.e. out[:, 0, H:]  (S5)
    np.testing.assert_array_equal(h_n[-1], out[:, 0, 4:])
