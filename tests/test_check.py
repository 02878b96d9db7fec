"""``scratchrnn golden`` and ``scratchrnn check``: exit codes, usage errors, JSON, suites on disk,
the adapters, and the error kinds of the diagnosis."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from scratchrnn.apps import cli, golden
from scratchrnn.apps.check import diagnose
from scratchrnn.apps.check.cs231n import from_cs231n, to_cs231n

OK = "buggy.cs231n_ok"
ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_golden_writes_a_suite(tmp_path, capsys):
    assert cli.main(["golden", "--out", str(tmp_path / "s")]) == 0
    assert "wrote 45 cases and manifest.json" in capsys.readouterr().out
    assert len(list((tmp_path / "s").glob("*.npz"))) == 45


def test_check_passes_a_correct_cs231n_module_and_lists_what_it_skipped(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert cli.main(["check", "--cs231n", OK, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "12 passed, 0 failed, 0 crashed, 24 skipped" in out
    assert "lstm-sequence-l1-uni: CS231n's lstm_forward starts from c0 = 0" in out
    assert "rnn_relu-cell: CS231n's RNN is tanh only" in out
    data = json.loads(path.read_text())
    assert data["counts"] == {"pass": 12, "fail": 0, "error": 0, "skip": 24}
    assert data["layout"] == "cs231n" and data["tolerance"] == pytest.approx(3.7e-11, rel=0.01)


def test_check_fails_with_the_diagnosis_in_table_and_json(tmp_path, capsys, monkeypatch):
    from buggy import gallery
    gallery.materialise(gallery.BUGS["swapped_gate_blocks"], tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "r.json"
    assert cli.main(["check", "--cs231n", "swapped_gate_blocks", "--kind", "lstm", "--json", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL lstm-cell" in out
    assert "dWx (grad_weight_ih)  error" in out and "swapped: blocks g and o swapped" in out
    assert "gate g (columns 3H:4H), o (columns 2H:3H)" in out          # CS231n's order i, f, o, g
    lstm = next(r for r in json.loads(path.read_text())["results"] if r["name"] == "lstm-cell")
    f = next(f for f in lstm["findings"] if f["tensor"] == "grad_weight_ih")
    assert (f["kind"], f["gates"]) == ("swapped", ["g", "o"]) and lstm["status"] == "fail"


def test_check_against_a_suite_on_disk(tmp_path, capsys):
    golden.write(tmp_path / "s")
    assert cli.main(["check", "buggy.numpy_rnn:rnn", "--suite", str(tmp_path / "s"), "--kind", "rnn"]) == 0
    assert "4 passed, 0 failed" in capsys.readouterr().out
    (tmp_path / "s" / "rnn_tanh-cell.npz").write_bytes(b"not a zip")
    assert cli.main(["check", "buggy.numpy_rnn:rnn", "--suite", str(tmp_path / "s")]) == 2
    assert "does not match the sha256" in capsys.readouterr().err


def test_the_reference_itself_passes_every_case(capsys):
    assert cli.main(["check", "scratchrnn.apps.golden:run_reference"]) == 0
    assert "45 passed, 0 failed" in capsys.readouterr().out


def test_float32_mode_passes_correct_code_with_float32_tolerance(capsys):
    assert cli.main(["check", "--cs231n", OK, "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "<= 2.4e-05" in out and "12 passed" in out


def test_a_crashing_target_is_a_failure_not_a_traceback(capsys):
    assert cli.main(["check", "numpy:zeros", "--kind", "gru"]) == 1      # zeros(config, arrays) raises
    out = capsys.readouterr().out
    assert "ERROR gru-cell" in out and "TypeError" in out


@pytest.mark.parametrize("argv, message", [
    (["check"], "expected exactly one of TARGET"),
    (["check", "a.b:c", "--cs231n", OK], "got TARGET and --cs231n"),
    (["check", "no_such_module_xyz:f"], "cannot import module 'no_such_module_xyz'"),
    (["check", "buggy.numpy_rnn:nothing"], "has no attribute 'nothing'"),
    (["check", "buggy.numpy_rnn"], "of the form package.module:name"),
    (["check", "buggy.gallery:HERE"], "to be a callable"),
    (["check", "--cs231n", "buggy.gallery"], "defines none of CS231n's functions"),
    (["check", "--torch", "buggy.numpy_rnn:rnn"], "torch.nn.Module subclass"),
    (["check", "--cs231n", OK, "--suite", "/nonexistent/suite"], "manifest.json"),
])
def test_usage_errors_exit_2_with_one_line(argv, message, capsys):
    if "--torch" in argv:
        pytest.importorskip("torch", reason="needs torch (not installed)")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_command_line_end_to_end_exit_codes():
    """The real entry point, as outside checks call it: 0, then 2 for no target."""
    cmd = [sys.executable, "-m", "scratchrnn", "check"]
    run = dict(cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    ok = subprocess.run(cmd + ["tests.buggy.numpy_rnn:rnn", "--kind", "rnn"], **run)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(cmd, **run)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_torch_adapter_passes_torch_and_catches_a_broken_subclass(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch", reason="needs torch (not installed)")
    assert cli.main(["check", "--torch", "torch.nn:GRU"]) == 0
    assert "6 passed, 0 failed" in capsys.readouterr().out
    (tmp_path / "halfgru.py").write_text(
        "import torch\n"
        "class HalfGradGRU(torch.nn.GRU):\n"
        "    def forward(self, x, hx=None):\n"
        "        out, h = super().forward(x, hx)\n"
        "        return out * 0.5 + out.detach() * 0.5, h      # right values, half the gradient via out\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["check", "--torch", "halfgru:HalfGradGRU"]) == 1
    assert "FAIL gru-sequence-l1-uni" in capsys.readouterr().out


def test_cs231n_layout_round_trip():
    w = np.arange(4 * 3 * 2, dtype=float).reshape(12, 2)           # torch (4H, D), blocks i, f, g, o
    cs = to_cs231n(w, 4)                                            # (D, 4H), blocks i, f, o, g
    assert cs.shape == (2, 12)
    np.testing.assert_array_equal(cs[:, 6:9], w[9:12].T)           # CS231n's o is torch's 4th block
    np.testing.assert_array_equal(from_cs231n(cs, 4), w)
    b = np.arange(12.0)
    np.testing.assert_array_equal(from_cs231n(to_cs231n(b, 4), 4), b)


@pytest.mark.parametrize("make, kind, detail", [
    (lambda e: -e, "sign", "sign flipped"),
    (lambda e: 0.5 * e, "scale", "×0.5"),
    (lambda e: np.zeros_like(e), "zero", "all zeros"),
    (lambda e: e.T.copy(), "transposed", "transpose"),
    (lambda e: np.where(e > 0, np.nan, e), "non-finite", "NaN or inf"),
    (lambda e: e + np.sin(np.arange(e.size)).reshape(e.shape), "other", "no simple pattern"),
])
def test_error_kinds(make, kind, detail):
    e = np.random.default_rng(0).standard_normal((12, 12))         # LSTM, H = 3: four blocks of 3 rows
    f = diagnose.diagnose("grad_weight_hh_l0", make(e), e, 1e-10, ("i", "f", "g", "o"), 3)
    assert f.kind == kind and detail in f.detail


def test_one_wrong_block_is_named_and_judged_alone():
    e = np.random.default_rng(1).standard_normal((12, 4))
    g = e.copy()
    g[3:6] *= -1                                                     # the f block flipped
    f = diagnose.diagnose("grad_weight_ih_l0_reverse", g, e, 1e-10, ("i", "f", "g", "o"), 3)
    assert (f.kind, f.gates, f.direction) == ("sign", ("f",), "reverse")
    g = e[[0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11]]                    # f and g swapped
    f = diagnose.diagnose("grad_weight_ih_l0", g, e, 1e-10, ("i", "f", "g", "o"), 3)
    assert (f.kind, f.detail) == ("swapped", "blocks f and g swapped")


def test_tolerance_follows_the_dtype():
    assert diagnose.tolerance(np.float64) == pytest.approx(np.finfo(np.float64).eps ** (2 / 3))
    assert diagnose.tolerance(np.float32) == pytest.approx(np.finfo(np.float32).eps ** (2 / 3))
