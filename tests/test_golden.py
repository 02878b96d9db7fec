"""The golden suite: readable with NumPy alone, reproducible bit for bit, and equal to torch in float64."""

import json
import pathlib
import re

import numpy as np
import pytest

from scratchrnn.apps import golden
from scratchrnn.apps.check import torch_target
from scratchrnn.apps.check.runner import run

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden")
    golden.write(out, seed=golden.DEFAULT_SEED)
    return out


@pytest.fixture(scope="module")
def cases():
    return golden.generate(golden.DEFAULT_SEED)


def test_manifest_and_files_read_with_numpy_alone(suite_dir):
    manifest = json.loads((suite_dir / "manifest.json").read_text())
    assert manifest["format"] == "scratchrnn-golden" and manifest["version"] == golden.VERSION
    assert set(manifest["made_by"]) >= {"scratchrnn", "numpy", "numba", "python"}
    assert manifest["gate_order"] == {"rnn": ["h"], "lstm": ["i", "f", "g", "o"], "gru": ["r", "z", "n"]}
    assert len(manifest["cases"]) == len(golden.specs()) == 45
    for meta in manifest["cases"]:
        with np.load(suite_dir / meta["file"], allow_pickle=False) as z:
            assert sorted(z.files) == sorted(meta["shapes"])
            for k in z.files:
                assert list(z[k].shape) == meta["shapes"][k] and str(z[k].dtype) == meta["dtypes"][k]
                assert z[k].dtype in (np.float64, np.int64, np.bool_), (meta["name"], k)
        keys = meta["inputs"] + meta["upstream"] + meta["expected"] + meta["steps"]
        assert sorted(keys) == sorted(meta["shapes"])


def test_every_case_carries_what_it_promises(cases):
    for c in cases:
        a, cfg = c.arrays, c.config
        if cfg["mode"] == "loss":
            assert set(c.meta["expected"]) == {"loss", "grad_logits"}
            continue
        params = [k for k in a if k.startswith(("weight_", "bias_"))]
        assert {f"grad_{k}" for k in params} <= set(c.meta["expected"])
        for k in ("x", "h0", "c0"):
            assert (k in a) == (f"grad_{k}" in a)
        outs = [k for k in ("out", "h_n", "c_n") if k in a]
        assert all(f"d_{k}" in a for k in outs) and outs        # upstream on every output
        for k in outs:
            assert np.all(a[f"d_{k}"] != 0) or c.meta["name"].endswith("c0zero")
        if cfg["bias"]:                                         # distinct, non-zero biases
            for k in (p for p in params if p.startswith("bias_ih")):
                b_ih, b_hh = a[k], a[k.replace("bias_ih", "bias_hh")]
                assert np.all(b_ih != 0) and np.all(b_hh != 0) and not np.allclose(b_ih, b_hh)
        if "c0" in a and not c.meta["name"].endswith("c0zero"):
            assert not np.allclose(a["h0"], a["c0"][..., :a["h0"].shape[-1]])


def test_equation_labels_exist_in_the_derivations(cases):
    labels = set(re.findall(r"^\*\*\(([A-Z]\d+)\)\*\*", (ROOT / "docs/derivations.md").read_text(), re.M))
    used = {e for c in cases for e in c.meta["equations"]}
    assert used and used <= labels, used - labels
    assert {"L7", "G3", "P1", "S2", "V2", "R7"} <= used


def test_reproducible_bit_for_bit(tmp_path, suite_dir):
    golden.write(tmp_path, seed=golden.DEFAULT_SEED)
    for f in sorted(suite_dir.iterdir()):
        assert (tmp_path / f.name).read_bytes() == f.read_bytes(), f.name
    other = golden.generate(seed=1)[0].arrays["x"]
    assert not np.array_equal(other, golden.generate(seed=0)[0].arrays["x"])


def test_load_round_trips_and_refuses_an_altered_suite(tmp_path, suite_dir, cases):
    loaded = golden.load(suite_dir)
    assert [c.name for c in loaded] == [c.name for c in cases]
    for a, b in zip(loaded, cases):
        assert a.config == b.config and sorted(a.arrays) == sorted(b.arrays)
        for k in a.arrays:
            np.testing.assert_array_equal(a.arrays[k], b.arrays[k])
    golden.write(tmp_path)
    f = tmp_path / cases[0].meta["file"]
    data = bytearray(f.read_bytes())
    data[-40] ^= 1
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the sha256"):
        golden.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        golden.load(tmp_path / "nowhere")


def test_step_quantities_are_suffix_runs(cases):
    for c in cases:
        if "step_dh" not in c.arrays:
            assert c.config["mode"] != "sequence" or c.config["bidirectional"] or "lengths" in c.arrays
            continue
        a = c.arrays
        T = a["x"].shape[0]
        assert a["step_dh"].shape[0] == T
        if "grad_h0" in a:
            np.testing.assert_array_equal(a["step_dh"][0], a["grad_h0"])
        np.testing.assert_array_equal(a["step_h"][0], a.get("h0", np.zeros_like(a["step_h"][0])))


TORCH_CLASSES = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]


def test_suite_equals_torch_in_float64(cases):
    """Every recurrent case through torch.nn in float64, via autograd (the --torch adapter)."""
    pytest.importorskip("torch", reason="needs torch (not installed)")
    covered = 0
    for name in TORCH_CLASSES:
        results = run(torch_target(f"torch.nn:{name}"), cases)
        covered += len(results)
        # float64: the reference and torch differ only in summation order, ~1e-16 here
        worst = max(e for r in results for e in r.errors.values())
        assert worst < 1e-13, (name, worst)
        assert all(r.status == "pass" for r in results), [r.name for r in results if r.status != "pass"]
    assert covered == sum(c.config["mode"] != "loss" for c in cases)


def test_steps_and_softmax_equal_torch(cases):
    """step_h / step_dh directly from torch (prefix and suffix runs), and the softmax cases."""
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    case = next(c for c in cases if c.name == "lstm-sequence-l2-uni")
    a = case.arrays
    m = torch.nn.LSTM(golden.I, golden.H, num_layers=2).double()
    with torch.no_grad():
        for k, p in m.named_parameters():
            p.copy_(torch.from_numpy(a[k]))
    for t in range(a["x"].shape[0]):
        if t:
            _, (h_t, c_t) = m(torch.from_numpy(a["x"][:t]), (torch.from_numpy(a["h0"]), torch.from_numpy(a["c0"])))
            np.testing.assert_allclose(a["step_h"][t], h_t.detach().numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(a["step_c"][t], c_t.detach().numpy(), rtol=1e-12, atol=1e-14)
        h = torch.tensor(a["step_h"][t], requires_grad=True)
        c = torch.tensor(a["step_c"][t], requires_grad=True)
        out, (h_n, c_n) = m(torch.from_numpy(a["x"][t:]), (h, c))
        loss = (out * torch.from_numpy(a["d_out"][t:])).sum() + (h_n * torch.from_numpy(a["d_h_n"])).sum() \
            + (c_n * torch.from_numpy(a["d_c_n"])).sum()
        loss.backward()
        # float64, summation order only
        np.testing.assert_allclose(a["step_dh"][t], h.grad.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a["step_dc"][t], c.grad.numpy(), rtol=1e-12, atol=1e-14)
    for c in (c for c in cases if c.config["mode"] == "loss"):
        s = c.arrays
        logits = torch.tensor(s["logits"], requires_grad=True)
        targets = torch.from_numpy(s["targets"]).reshape(-1)
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, golden.V), targets, reduction="none")
        loss = (nll * torch.from_numpy(s["mask"]).reshape(-1)).sum() / golden.N
        loss.backward()
        np.testing.assert_allclose(s["loss"], loss.item(), rtol=1e-12)
        np.testing.assert_allclose(s["grad_logits"], logits.grad.numpy(), rtol=1e-12, atol=1e-15)
