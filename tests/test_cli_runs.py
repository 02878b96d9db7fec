"""Run folders and ``--resume``: a run is never overwritten silently, default folder names
tell corpora and settings apart, and ``--resume`` refuses a checkpoint that does not fit
the command, naming the setting, the checkpoint's value and the given one."""


import pytest

from cli_helpers import run

from scratchrnn.apps.tasks import checkpoint as ckpt
from scratchrnn.apps.tasks import common

pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

TINY = ["--hidden", "4", "--steps", "5", "--batch", "2", "--epochs", "2", "--pred-len", "2",
        "--max-chars", "120"]




def error_line(argv):
    code, _, err = run(argv)
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    return lines[0]


@pytest.fixture
def corpora(tmp_path):
    """Two corpora with vocabularies of the same size but other characters."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("abcdefgh " * 30)
    b.write_text("ijklmnop " * 30)
    return a, b


def test_a_finished_run_is_not_overwritten(tmp_path, corpora):
    out = tmp_path / "run"
    argv = ["train", "charlm", "--corpus", str(corpora[0]), *TINY, "--out", str(out)]
    assert run(argv)[0] == 0
    before = (out / common.METRICS).read_text()
    line = error_line(argv)
    assert "already holds a run" in line and "--resume" in line and "--force" in line
    assert (out / common.METRICS).read_text() == before
    line = error_line([*argv, "--resume"])                    # nothing left to do
    assert "has done 2 epochs already; give --epochs more than 2" in line
    assert (out / common.METRICS).read_text() == before
    assert run([*argv, "--force", "--epochs", "1"])[0] == 0      # replaced, on request
    _, meta = ckpt.load(out / ckpt.CHECKPOINT)
    assert meta["epoch"] == 1 and len((out / common.METRICS).read_text().splitlines()) == 2


def test_epochs_zero_is_refused_and_keeps_the_run(tmp_path, corpora):
    out = tmp_path / "run"
    argv = ["train", "charlm", "--corpus", str(corpora[0]), *TINY, "--out", str(out)]
    assert run(argv)[0] == 0
    before = (out / common.METRICS).read_text()
    assert run([*argv, "--resume", "--epochs", "0"])[0] == 2
    assert (out / common.METRICS).read_text() == before


def test_default_folders_tell_corpora_and_settings_apart(tmp_path, monkeypatch, corpora):
    monkeypatch.chdir(tmp_path)
    base = ["train", "charlm", *TINY]
    folders = []
    for extra in ([], ["--corpus", str(corpora[0])], ["--corpus", str(corpora[1])],
                  ["--corpus", str(corpora[1]), "--hidden", "5"]):
        code, out, err = run([*base, *extra])
        assert code == 0, err
        folders.append(out.split("run folder ")[1].split()[0])
    assert len(set(folders)) == 4
    assert folders[0].startswith("runs/charlm-zen-rnn-scratch-seed0-")
    assert folders[1].startswith("runs/charlm-a-rnn-") and folders[2].startswith("runs/charlm-b-rnn-")
    code, out, _ = run([*base, "--corpus", str(corpora[1]), "--epochs", "3", "--resume"])
    assert code == 0 and f"run folder {folders[2]}" in out      # more epochs: the same folder


def test_resume_without_a_checkpoint(tmp_path):
    line = error_line(["train", "sine", "--segments", "3", "--out", str(tmp_path / "none"), "--resume"])
    assert "there is no checkpoint in" in line


@pytest.mark.parametrize("change, setting, theirs, ours", [
    (["--hidden", "5"], "--hidden", "4", "5"),
    (["--optimizer", "adam"], "--optimizer", "sgd", "adam"),
    (["--dtype", "float64"], "--dtype", "float32", "float64"),
    (["--model", "lstm"], "--model", "rnn", "lstm"),
    (["--sampler", "consecutive"], "--sampler", "random", "consecutive"),
    (["--lr", "2"], "--lr", "100.0", "2.0"),
    (["--max-chars", "100"], "--corpus", None, None),
])
def test_resume_refuses_other_settings(tmp_path, corpora, change, setting, theirs, ours):
    out = tmp_path / "run"
    argv = ["train", "charlm", "--corpus", str(corpora[0]), *TINY, "--out", str(out)]
    assert run(argv)[0] == 0
    line = error_line([*argv, "--epochs", "3", "--resume", *change])
    assert f"was trained with {setting} " in line
    if theirs:
        assert f"{setting} {theirs}, this command gives {ours};" in line


def test_resume_refuses_another_corpus_with_a_vocabulary_of_the_same_size(tmp_path, corpora):
    out = tmp_path / "run"
    argv = ["train", "charlm", *TINY, "--out", str(out)]
    assert run([*argv, "--corpus", str(corpora[0])])[0] == 0
    line = error_line([*argv, "--corpus", str(corpora[1]), "--epochs", "3", "--resume"])
    assert "was trained with --corpus " in line


@pytest.mark.parametrize("task", [["sine", "--segments", "3"], ["charlm", *TINY]])
def test_resume_refuses_fewer_layers_and_another_backend(tmp_path, task):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    argv = ["train", *task, "--layers", "2", "--backend", "torch", "--out", str(out)]
    assert run(argv)[0] == 0
    n = "--segments" if task[0] == "sine" else "--epochs"
    more = [n, "9"]
    assert "--layers 2, this command gives 1;" in error_line([*argv, *more, "--resume", "--layers", "1"])
    line = error_line([*argv, *more, "--resume", "--backend", "scratch"])
    assert "--backend torch, this command gives scratch;" in line


def test_max_chars_says_how_much_of_the_corpus_is_used(tmp_path, corpora):
    code, out, _ = run(["train", "charlm", "--corpus", str(corpora[0]), *TINY,
                        "--out", str(tmp_path / "r")])
    assert code == 0 and "120 characters (the first 120 of 270; --max-chars)" in out


def test_version_and_help_show_defaults(capsys):
    from scratchrnn import __version__
    assert run(["--version"])[0] == 0
    code, out, _ = run(["train", "charlm", "--help"])
    out = " ".join(out.split())                      # argparse wraps lines
    assert code == 0 and "(default: 250)" in out and "(default: 100.0)" in out
    code, out, _ = run(["verify", "--help"])
    assert code == 0 and "dW/db" in out and "hx" in out
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "scratchrnn", "--version"], capture_output=True,
                         text=True)
    assert res.returncode == 0 and res.stdout.strip() == f"scratchrnn {__version__}"
