"""Every command, driven with bad values and bad files, ends in one ``error:`` line and
exit code 2 (or a correct result), never a traceback.

``cli.main`` runs in-process: argparse's own errors arrive as ``SystemExit(2)``, the
commands' as a return value; anything else (an exception escaping) fails the test.
"""

import json
import zipfile

import numpy as np
import pytest

from cli_helpers import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchrnn.apps.tasks import checkpoint as ckpt

pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

TINY = ["--hidden", "4", "--steps", "5", "--batch", "2", "--epochs", "1", "--pred-len", "2"]




def assert_usage_error(argv, match=None):
    code, _, err = run(argv)
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert code == 2, (argv, code, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    if match:
        assert match in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------ bad values, by table

BAD_VALUES = [
    (["train", "charlm", "--epochs", "-3"], "--epochs: expected an integer ≥ 1, got -3"),
    (["train", "charlm", "--epochs", "0"], "--epochs"),
    (["train", "charlm", "--steps", "0"], "--steps"),
    (["train", "charlm", "--pred-every", "0"], "--pred-every"),
    (["train", "charlm", "--save-every", "0"], "--save-every"),
    (["train", "charlm", "--pred-len", "-1"], "--pred-len"),
    (["train", "charlm", "--lr", "nan"], "--lr: expected a finite number"),
    (["train", "charlm", "--lr", "-1"], "--lr"),
    (["train", "charlm", "--clip", "0"], "--clip"),
    (["train", "charlm", "--hidden", "2.5"], "--hidden: expected an integer, got '2.5'"),
    (["train", "charlm", "--max-chars", "0"], "--max-chars"),
    (["train", "charlm", "--seed", "-1"], "--seed"),
    (["train", "charlm", "--corpus", "/no/such/file.txt"], "no such file"),
    (["train", "charlm", "--corpus", "/"], "is a folder"),
    (["train", "charlm", "--data-dir", "/tmp"], "unrecognized arguments"),   # charlm reads --corpus
    (["train", "mnist", "--limit", "0"], "--limit"),
    (["train", "mnist", "--data-dir", "/no/such/dir"], "no such folder"),
    (["train", "sine", "--segments", "0"], "--segments"),
    (["train", "sine", "--layers", "0"], "--layers"),
    (["train", "sine", "--data-dir", "/tmp"], "unrecognized arguments"),
    (["gradflow", "--T", "0"], "--T"),
    (["gradflow", "--batch", "0"], "--batch"),
    (["gradflow", "--layers", "0"], "--layers"),
    (["gradflow", "--hidden", "-4"], "--hidden"),
    (["gradflow", "--forget-bias", "inf"], "--forget-bias"),
    (["generate", "--checkpoint", "x", "--prefix", "a", "--length", "-5"], "--length"),
    (["generate", "--checkpoint", "x", "--prefix", "a", "--temperature", "-1"], "--temperature"),
    (["generate", "--checkpoint", "x", "--prefix", "a", "--seed", "-2"], "--seed"),
    (["generate", "--prefix", "a"], "--checkpoint"),
    (["verify", "--seed", "-1"], "--seed"),
    (["verify", "--max-layers", "4"], "--max-layers"),
    (["verify", "--json", "/"], "is a folder"),
    (["verify", "--json", "/no/such/dir/v.json"], "does not exist"),
    (["bench", "--repeats", "0"], "--repeats"),
    (["bench", "--T", "8", "0"], "--T"),
    (["bench", "--impls", "tensorflow"], "invalid choice"),
    (["nonsense"], "invalid choice"),
]


@pytest.mark.parametrize("argv, match", BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_a_bad_value_is_one_error_line(argv, match):
    assert_usage_error(argv, match)


def test_out_naming_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert_usage_error(["train", "sine", "--out", str(f)], "is not a folder")
    assert_usage_error(["gradflow", "--out", str(f)], "is not a folder")


@pytest.mark.parametrize("content, match", [
    (b"", "is empty"), (b"\xff\xfe not utf-8", "not valid UTF-8"), (b"abc", "too short")])
def test_a_corpus_that_cannot_be_used(tmp_path, content, match):
    path = tmp_path / "c.txt"
    path.write_bytes(content)
    assert_usage_error(["train", "charlm", "--corpus", str(path), *TINY, "--steps", "35",
                        "--out", str(tmp_path / "run")], match)


def test_a_corpus_with_an_odd_extension_or_broken_zip(tmp_path):
    (tmp_path / "c.md").write_text("hello world")
    assert_usage_error(["train", "charlm", "--corpus", str(tmp_path / "c.md")], "extension")
    (tmp_path / "c.zip").write_bytes(b"PK not really")
    assert_usage_error(["train", "charlm", "--corpus", str(tmp_path / "c.zip")], "zip")


# ------------------------------------------------------------------ bad values, generated

INT_OPTIONS = [("train", "charlm", o) for o in ("--epochs", "--steps", "--batch", "--hidden",
                                                 "--layers", "--max-chars", "--pred-every",
                                                 "--save-every")] + \
    [("train", "sine", o) for o in ("--segments", "--steps", "--hidden", "--layers")] + \
    [("gradflow", o) for o in ("--T", "--batch", "--input-size", "--hidden", "--layers")]


@settings(max_examples=60, deadline=None)
@given(option=st.sampled_from(INT_OPTIONS),
       value=st.one_of(st.integers(max_value=0).map(str),
                       st.text(st.characters(codec="utf-8", exclude_characters="-"),
                               min_size=1, max_size=6).filter(lambda s: not s.strip().isdigit()),
                       st.floats(allow_nan=True).map(repr)))
def test_any_bad_size_is_one_error_line(option, value):
    assert_usage_error([*option, value])


@settings(max_examples=40, deadline=None)
@given(option=st.sampled_from([("train", "charlm", "--lr"), ("train", "sine", "--clip"),
                               ("generate", "--checkpoint", "x", "--prefix", "a", "--temperature"),
                               ("gradflow", "--forget-bias")]),
       value=st.sampled_from(["nan", "inf", "-inf", "", "1e999", "x"]) | st.floats(max_value=-1e-9).map(repr))
def test_any_bad_number_is_one_error_line(option, value):
    if option[-1] == "--forget-bias" and value.startswith("-") and value not in ("-inf",):
        return                                    # any finite bias is a valid choice
    assert_usage_error([*option, value])


# ------------------------------------------------------------------ bad checkpoint files

@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("charlm") / "run"
    code, _, err = run(["train", "charlm", *TINY, "--out", str(out)])
    assert code == 0, err
    return out / ckpt.CHECKPOINT


def _npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _bad_checkpoints(tmp, good):
    raw = good.read_bytes()
    (tmp / "dir.npz").mkdir()
    (tmp / "empty.npz").write_bytes(b"")
    (tmp / "half.npz").write_bytes(raw[:len(raw) // 2])
    (tmp / "noise.npz").write_bytes(bytes(range(256)) * 8)
    arrays, meta = ckpt.load(good)
    meta["task"] = "sine"
    with zipfile.ZipFile(tmp / "meta-broken.npz", "w") as z:
        z.writestr("__meta__.npy", b"\x93NUMPY garbage")
    return {
        "missing": (tmp / "missing.npz", "no checkpoint at"),
        "folder": (tmp / "dir.npz", "is a folder"),
        "empty": (tmp / "empty.npz", "is empty"),
        "truncated": (tmp / "half.npz", "cannot be read"),
        "noise": (tmp / "noise.npz", "cannot be read"),
        "meta-broken": (tmp / "meta-broken.npz", "cannot be read"),
        "no-meta": (_npz(tmp / "plain.npz", w=np.zeros(3)), "no __meta__"),
        "pickled": (_npz(tmp / "obj.npz", __meta__=np.array([{"a": 1}], dtype=object)), "cannot be read"),
        "other-task": (_npz(tmp / "sine.npz", __meta__=np.array(json.dumps(meta)),
                            **{k: v for k, v in arrays.items() if k != "vocab"}), "'sine' checkpoint"),
        "no-vocab": (_npz(tmp / "novocab.npz", __meta__=np.array(json.dumps(ckpt.load(good)[1])),
                          **{k: v for k, v in arrays.items() if k != "vocab"}), "not a complete"),
        "wrong-shape": (_npz(tmp / "shape.npz", __meta__=np.array(json.dumps(ckpt.load(good)[1])),
                             **{**arrays, "core.weight_hh_l0": np.zeros((3, 3), np.float32)}), "shape"),
    }


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "truncated", "noise", "meta-broken",
                                  "no-meta", "pickled", "other-task", "no-vocab", "wrong-shape"])
def test_generate_refuses_a_bad_checkpoint(tmp_path, charlm_run, kind):
    path, match = _bad_checkpoints(tmp_path, charlm_run)[kind]
    assert_usage_error(["generate", "--checkpoint", str(path), "--prefix", "a"], match)


@pytest.mark.parametrize("kind", ["empty", "truncated", "no-meta", "other-task", "wrong-shape"])
def test_resume_refuses_a_bad_checkpoint(tmp_path, charlm_run, kind):
    path, _ = _bad_checkpoints(tmp_path, charlm_run)[kind]
    out = tmp_path / "run"
    out.mkdir()
    (out / ckpt.CHECKPOINT).write_bytes(path.read_bytes())
    assert_usage_error(["train", "charlm", *TINY, "--epochs", "2", "--out", str(out), "--resume"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0, 1))
def test_any_truncation_is_refused_or_still_generates(tmp_path, charlm_run, cut):
    raw = charlm_run.read_bytes()
    path = tmp_path / "cut.npz"
    n = int(cut * len(raw))
    path.write_bytes(raw[:n])
    code, out, err = run(["generate", "--checkpoint", str(path), "--prefix", "a", "--length", "3"])
    if n == len(raw):
        assert code == 0 and out.startswith("a") and len(out.rstrip("\n")) == 4
    else:
        assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err


def test_generate_names_the_characters_the_model_never_saw(charlm_run):
    line = assert_usage_error(["generate", "--checkpoint", str(charlm_run), "--prefix", "分开"],
                              "never saw: '分' '开'")
    assert "vocabulary" in line


# ------------------------------------------------------------------ interruptions

@pytest.mark.parametrize("argv, target", [
    (["gradflow", "--T", "3"], "scratchrnn.apps.gradflow.run"),
    (["generate", "--checkpoint", "x", "--prefix", "a"],
     "scratchrnn.apps.tasks.charlm.generate_from_checkpoint"),
])
def test_ctrl_c_outside_training_is_one_line(monkeypatch, argv, target):
    def stop(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(target, stop)
    code, _, err = run(argv)
    assert code == 130 and err.strip() == "stopped by SIGINT"
