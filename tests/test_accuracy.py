"""``python -m scratchrnn.apps.accuracy``: the command whose output docs/derivations.md quotes."""

import pathlib
import re

import pytest

from scratchrnn.apps import accuracy, verify

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "derivations.md"


def quoted_block():
    """The accuracy table quoted in the document, after the command that produced it."""
    text = DOC.read_text()
    m = re.search(r"python -m scratchrnn\.apps\.accuracy --seeds (\d+)\n```\n.*?```\n(.*?)```", text, re.S)
    assert m, "docs/derivations.md no longer quotes the accuracy command and its output"
    return int(m.group(1)), m.group(2).strip().splitlines()


def test_document_quotes_the_command_output():
    """The quoted table has the command's own header and one row per model, in its format.

    Bound on the quoted numbers: 1e-14, ten times what the text claims ("about 1e-15");
    a number above it means the text no longer describes the table.
    """
    seeds, lines = quoted_block()
    fake = {m: [(0.0, "out")] for m in verify.MODELS}
    expected = accuracy.table(fake, seeds, 3, 2, 3, 4).splitlines()
    assert lines[:2] == expected[:2]
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == list(verify.MODELS)
    for model, median, worst, array in rows:
        assert 0 < float(median) <= float(worst) <= 1e-14, (model, median, worst)


def test_command_runs_and_prints_the_table(capsys):
    """Three seeds: the same table, and rounding-only errors (≤ 1e-12, as tests/test_reference.py)."""
    pytest.importorskip("torch", reason="needs torch (not installed)")
    assert accuracy.main(["--seeds", "3", "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("float64 vs torch, max-norm relative error over 3 seeds (T=3, N=2, I=3, H=4")
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == list(verify.MODELS)
    assert all(0 < float(r[2]) <= 1e-12 for r in rows)


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "expected positive --seeds"),
    (["--models", "lstm_proj", "--size", "3", "2", "3", "1"], "needs H >= 2"),
])
def test_bad_arguments_say_what_was_expected(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        accuracy.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
