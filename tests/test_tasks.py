"""The training tasks end to end, through the command line, on tiny data.

The two backends must agree (same data, seed, initial weights, settings), a
resumed run must equal an uninterrupted one, and a diverging run must stop with
the step named and the last good checkpoint intact.
"""

import csv
import json

import numpy as np
import pytest

from scratchrnn.apps import cli
from scratchrnn.apps.tasks import checkpoint as ckpt
from scratchrnn.apps.tasks import common

pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")
torch = pytest.importorskip("torch")

TINY_CHARLM = ["--epochs", "3", "--hidden", "8", "--steps", "6", "--batch", "4", "--lr", "1",
               "--clip", "0.5", "--pred-every", "2", "--pred-len", "5", "--save-every", "1"]


def _metrics(folder):
    with open(folder / common.METRICS) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


@pytest.mark.parametrize("sampler", ["random", "consecutive"])
def test_charlm_backends_agree(tmp_path, sampler):
    """float64: every epoch's perplexity equal to 1e-9 between scratchrnn and torch."""
    runs = {}
    for backend in ("scratch", "torch"):
        out = tmp_path / backend
        rc = cli.main(["train", "charlm", *TINY_CHARLM, "--sampler", sampler, "--dtype", "float64",
                       "--backend", backend, "--out", str(out)])
        assert rc == 0
        runs[backend] = _metrics(out)
        assert (out / "perplexity.png").stat().st_size > 0
        assert "epoch 2" in (out / "samples.txt").read_text()
    ours, theirs = (np.array([r["perplexity"] for r in runs[b]]) for b in ("scratch", "torch"))
    assert len(ours) == 3 and ours[-1] < ours[0]          # it learns
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_charlm_resume_equals_uninterrupted(tmp_path):
    """2 epochs + --resume to 4 give exactly the weights and metrics of 4 straight epochs."""
    args = ["train", "charlm", *TINY_CHARLM[2:], "--optimizer", "adam", "--lr", "0.01",
            "--dtype", "float64"]
    assert cli.main([*args, "--epochs", "4", "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*args, "--epochs", "2", "--out", str(tmp_path / "b")]) == 0
    assert cli.main([*args, "--epochs", "4", "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, meta_a = ckpt.load(tmp_path / "a" / ckpt.CHECKPOINT)
    b, meta_b = ckpt.load(tmp_path / "b" / ckpt.CHECKPOINT)
    assert meta_a["epoch"] == meta_b["epoch"] == 4
    assert a.keys() == b.keys() and any(k.startswith("opt.m") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [r["perplexity"] for r in _metrics(tmp_path / "a")] == \
        [r["perplexity"] for r in _metrics(tmp_path / "b")]


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    """An update that turns a weight to inf in epoch 3 is never saved: the run stops naming
    epoch 3 and the step, and the checkpoint of epoch 2 stays, loadable and finite."""
    from scratchrnn.apps.tasks.backends import ScratchBackend
    real, calls = ScratchBackend.train_step, []

    def poisoned(self, *a, **k):
        out = real(self, *a, **k)
        calls.append(1)
        if len(calls) == 2 * 35 + 5:                  # 35 batches per epoch: epoch 3, step 5
            self.opt.pairs[0][0][0, 0] = np.inf       # the parameter array the optimizer updates
        return out
    monkeypatch.setattr(ScratchBackend, "train_step", poisoned)
    out = tmp_path / "run"
    rc = cli.main(["train", "charlm", *TINY_CHARLM, "--epochs", "4", "--out", str(out)])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: training diverged at epoch 3, step 5 of 35: weight 0")
    assert f"{out / ckpt.CHECKPOINT} (after epoch 2)" in err
    kept, meta = ckpt.load(out / ckpt.CHECKPOINT)
    assert meta["epoch"] == 2 and meta["step"] == 0 and not ckpt.non_finite(kept)


@pytest.mark.parametrize("task", [["charlm", *TINY_CHARLM, "--sampler", "consecutive", "--lr", "3e38"],
                                  ["sine", "--segments", "30", "--model", "rnn_relu", "--lr", "3e37"]])
def test_a_real_divergence_names_a_checkpoint_that_exists(tmp_path, capsys, task):
    """A huge lr (clip 1e30) overflows float32 weights within the first epoch/segments, before any periodic
    checkpoint: the message still names a checkpoint that loads (the initial weights), finite. Adam's (sine)
    is 3e37, as its first step size lr / (1 − β₁) must itself be a float32 number; there the recurrent
    output turns NaN before the head sees it, which is a divergence too, not a bad input."""
    out = tmp_path / "run"
    rc = cli.main(["train", *task, "--clip", "1e30", "--save-every", "1000", "--out", str(out)])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: training diverged at ") and ("step" in err or "segment" in err)
    assert f"{out / ckpt.CHECKPOINT} (the initial weights)" in err
    arrays, meta = ckpt.load(out / ckpt.CHECKPOINT)
    assert meta["epoch"] == 0 and not ckpt.non_finite(arrays)


@pytest.mark.parametrize("where", ["core", "head"])
def test_a_step_that_diverges_returns_nan_and_a_bad_target_is_raised(where):
    """The head and the loss refuse NaN in what they get; ``train_step`` reports that as a
    divergence (NaN loss and norm), from the core's output or from the head's, and lets a
    refusal for another reason, a target out of range, reach the caller."""
    import scratchrnn as sr
    from scratchrnn.apps.tasks.backends import ScratchBackend, build_models
    core, head = build_models("rnn", 4, 8, 1, 4, np.float32, seed=0)
    backend = ScratchBackend(core, head, lr=0.1)
    x = sr.one_hot(np.random.default_rng(0).integers(0, 4, (5, 2)), 4)   # (T, N, V)
    with pytest.raises(ValueError, match="target 7 is out of range for 4 classes"):
        backend.train_step(x, np.full((5, 2), 7), None, "ce_all")
    for name, p in (core if where == "core" else head).named_parameters():
        if name.startswith("bias"):
            p[...] = np.nan                              # the live array, as an update would leave it
    value, _, norm = backend.train_step(x, np.zeros((5, 2), np.int64), None, "ce_all")
    assert np.isnan(value) and np.isnan(norm)


def test_a_step_that_overflows_in_the_backward_returns_nan_and_changes_nothing():
    """A finite forward whose backward overflows is a divergence too: with the head's weights at
    1e37 (the sine task's one output), the loss overflows to inf, its gradient stays finite, and
    the gradient the head hands the core is inf. ``train_step`` returns NaN loss and norm, as for
    a divergence in the forward, with no weight moved and no gradient kept."""
    from scratchrnn.apps.tasks.backends import ScratchBackend, build_models
    core, head = build_models("rnn", 1, 8, 1, 1, np.float32, seed=0)
    backend = ScratchBackend(core, head, lr=0.1)
    dict(core.named_parameters())["weight_ih_l0"][...] = 10     # h ≈ 1 for x = 1: pred ≈ 8e37, finite
    dict(head.named_parameters())["weight"][...] = 1e37
    before = {k: v.copy() for m in (core, head) for k, v in m.named_parameters()}
    x, y = np.ones((5, 2, 1), np.float32), np.zeros((5, 2, 1), np.float32)
    with np.errstate(over="ignore"):                             # the loss's square overflows
        value, _, norm = backend.train_step(x, y, None, "mse_all")
    assert np.isnan(value) and np.isnan(norm)
    after = {k: v for m in (core, head) for k, v in m.named_parameters()}
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(not g.any() for _, g in backend.opt.pairs)


def test_a_backward_refusal_with_finite_gradients_reaches_the_caller():
    """Where every gradient handed over is finite, a refusal in the backward is no divergence
    (here the core's, made up: a mistake in the caller's arrays) and is raised as it came."""
    from scratchrnn.apps.tasks.backends import ScratchBackend, build_models
    core, head = build_models("rnn", 1, 8, 1, 1, np.float32, seed=0)
    backend = ScratchBackend(core, head, lr=0.1)

    def refuse(d_out, **kwargs):
        raise ValueError("expected grad of output of shape (5, 2, 8), got (5, 2, 7)")
    core.backward = refuse
    with pytest.raises(ValueError, match=r"got \(5, 2, 7\)"):
        backend.train_step(np.ones((5, 2, 1), np.float32), np.zeros((5, 2, 1), np.float32), None, "mse_all")


@pytest.mark.parametrize("optimizer, key", [("sgd", "opt.b1"), ("adam", "opt.m1")])
def test_a_checkpoints_optimizer_state_takes_its_parameters_dtype_and_must_have_its_shape(optimizer, key):
    """A momentum buffer (SGD) or moment (Adam) from a checkpoint becomes a C-ordered array of
    its parameter's dtype; one of another shape is refused by name, where NumPy would broadcast."""
    from scratchrnn.apps.tasks.backends import ScratchBackend, build_models
    core, head = build_models("rnn", 4, 8, 1, 4, np.float32, seed=0)
    backend = ScratchBackend(core, head, optimizer=optimizer, lr=0.1)
    arrays, p = backend.arrays(), backend.opt.pairs[1][0]               # W_hh, (8, 8)
    backend.load_arrays({**arrays, key: np.asfortranarray(np.arange(64.0).reshape(p.shape))})
    state = backend.opt.buffers[1] if optimizer == "sgd" else backend.opt.m[1]
    assert state.dtype == p.dtype and state.shape == p.shape and state.flags.c_contiguous
    np.testing.assert_array_equal(state, np.arange(64.0).reshape(p.shape))
    with pytest.raises(ValueError, match=rf"expected {key} of shape \(8, 8\), as its parameter, got \(8,\)"):
        backend.load_arrays({**arrays, key: np.ones(8)})               # would broadcast


def test_a_checkpoint_with_non_finite_values_is_never_written(tmp_path):
    path = tmp_path / ckpt.CHECKPOINT
    ckpt.save(path, {"w": np.arange(3.0)}, {"epoch": 1, "config": {}})
    with pytest.raises(ckpt.Diverged, match="non-finite values in w"):
        ckpt.save(path, {"w": np.array([1.0, np.nan])}, {"epoch": 2, "config": {}})
    assert ckpt.load(path)[1]["epoch"] == 1


def test_generate_from_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "charlm", *TINY_CHARLM, "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["generate", "--checkpoint", str(out / ckpt.CHECKPOINT), "--prefix", "Now",
                     "--length", "12"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("Now") and len(text) == 3 + 12
    assert cli.main(["generate", "--checkpoint", str(out / ckpt.CHECKPOINT), "--prefix", "Now",
                     "--length", "12", "--temperature", "1.0", "--seed", "1"]) == 0


def test_checkpoint_is_atomic_and_pickle_free(tmp_path, monkeypatch):
    """A write that fails half way leaves the previous checkpoint untouched and no temp files;
    a temporary file left by a killed save is removed by the next one."""
    path = tmp_path / ckpt.CHECKPOINT
    (tmp_path / ".checkpoint-killed.npz").write_bytes(b"half")
    ckpt.save(path, {"w": np.arange(3.0)}, {"epoch": 1, "config": {}})
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.CHECKPOINT]

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save(path, {"w": np.zeros(3)}, {"epoch": 2, "config": {}})
    arrays, meta = ckpt.load(path)
    assert meta == {"format": ckpt.FORMAT, "epoch": 1, "config": {}} and arrays["w"].tolist() == [0.0, 1.0, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.CHECKPOINT]
    with np.load(path, allow_pickle=False) as z:           # loads with pickle off
        assert z["__meta__"].dtype.kind == "U"


def test_sine_both_backends(tmp_path):
    res = {}
    for backend in ("scratch", "torch"):
        out = tmp_path / backend
        assert cli.main(["train", "sine", "--segments", "60", "--dtype", "float64",
                         "--backend", backend, "--out", str(out)]) == 0
        res[backend] = json.loads((out / "summary.json").read_text())["final_loss"]
        assert (out / "prediction.png").stat().st_size > 0
    np.testing.assert_allclose(res["scratch"], res["torch"], rtol=1e-9)
    losses = [r["loss"] for r in _metrics(tmp_path / "scratch")]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) / 3     # the state-carrying model learns


@pytest.mark.filterwarnings("ignore::UserWarning")     # tiny IDX files fail the originals' md5 check
def test_last_step_loss_keeps_one_upstream_gradient_array():
    """The last-step loss's upstream gradient (zeros but at the last step) is one array kept from
    step to step, not new memory each step, and trains the weights a new array of zeros does."""
    from scratchrnn.apps.tasks.backends import ScratchBackend, build_models
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3, 4)).astype(np.float32), rng.integers(0, 6, 3)
    kept, fresh = (ScratchBackend(*build_models("lstm", 4, 8, 2, 6, "float32", 0), optimizer="adam", lr=0.01)
                   for _ in range(2))
    fresh._last_step_grad = lambda out, d_last: np.concatenate([np.zeros_like(out[:-1]), d_last[None]])
    arrays = set()
    for _ in range(3):
        assert kept.train_step(x, y, None, "ce_last")[0] == fresh.train_step(x, y, None, "ce_last")[0]
        arrays.add(id(kept._d_out))
        assert not kept._d_out[:-1].any()
    assert len(arrays) == 1
    for (p, _), (q, _) in zip(kept.opt.pairs, fresh.opt.pairs):
        np.testing.assert_array_equal(p, q)


def test_mnist_on_tiny_idx_files(tmp_path, monkeypatch):
    from test_data_mnist import make_tiny_mnist
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    make_tiny_mnist(tmp_path / "data")
    acc = {}
    for backend in ("scratch", "torch"):
        out = tmp_path / backend
        rc = cli.main(["train", "mnist", "--epochs", "2", "--batch", "2", "--hidden", "8",
                       "--dtype", "float64", "--data-dir", str(tmp_path / "data"),
                       "--backend", backend, "--out", str(out)])
        assert rc == 0
        acc[backend] = [r["test_accuracy"] for r in _metrics(out)]
        assert (out / "curves.png").stat().st_size > 0
    assert acc["scratch"] == acc["torch"] and len(acc["scratch"]) == 2
