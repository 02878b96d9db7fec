"""docs/check.md's worked example is real: its code is the gallery's, its output is rerun here.

Each ``<!-- run: ARGS | module: BUG -->`` marker in docs/check.md is followed by a ```text block
holding exactly what ``scratchrnn check ARGS`` prints for the module written from the gallery bug
BUG (``ok`` = the correct file). After a change to the report, rewrite the blocks with
``python tests/test_check_docs.py`` and read the diff.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from buggy import gallery  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "check.md"
MARKER = re.compile(r"<!-- run: (?P<args>[^|]+)\| module: (?P<bug>\w+) -->\n```text\n(?P<out>.*?)```", re.S)
# Errors at the level of float64 rounding (below 1e-12) depend on the BLAS kernels of the machine
# (AVX2 and AVX-512 OpenBLAS round a product differently), so the comparison reads them as one token.
ROUNDING = re.compile(r"\b\d\.\de-(1[3-9]|[2-9]\d)\b")


def rounding_level(text):
    return ROUNDING.sub("<1e-12>", text)


def blocks(text):
    return list(MARKER.finditer(text))


def rerun(args, bug, folder):
    """What ``scratchrnn check ARGS`` prints with the module ``my_lstm`` written from ``bug``."""
    module = "my_lstm"
    source = (gallery.HERE / "cs231n_ok.py").read_text() if bug == "ok" else gallery.source(gallery.BUGS[bug])
    (pathlib.Path(folder) / f"{module}.py").write_text(source)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "scratchrnn", "check", *args.split()], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=300)
    return f"$ scratchrnn check {args}\n{res.stdout}$ echo $?\n{res.returncode}\n"


def test_the_doc_has_the_worked_example():
    found = blocks(DOC.read_text())
    assert [m["bug"] for m in found] == ["forget_derivative", "ok"]
    assert "check.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("i", range(2))
def test_printed_output_is_what_check_prints(i, tmp_path):
    m = blocks(DOC.read_text())[i]
    assert rounding_level(m["out"]) == rounding_level(rerun(m["args"].strip(), m["bug"], tmp_path)), \
        "docs/check.md is out of date: run python tests/test_check_docs.py"


def test_rounding_level_masks_only_float64_rounding():
    assert rounding_level("FAIL    3.2e-16  5.5e-01  1.0e-12") == "FAIL    <1e-12>  5.5e-01  1.0e-12"


def test_the_code_shown_is_the_gallery_code():
    text = DOC.read_text()
    shown = re.findall(r"```python\n(.*?)```", text, re.S)
    assert shown, "docs/check.md shows no code"
    bug = gallery.BUGS["forget_derivative"]
    assert shown[0] in gallery.source(bug) and bug.new.strip() in shown[0]
    assert f"-    {bug.new}" in text and f"+    {bug.old}" in text       # the fix, as a diff


def update():
    text = DOC.read_text()
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        for m in reversed(blocks(text)):
            out = rerun(m["args"].strip(), m["bug"], folder)
            text = text[:m.start("out")] + out + text[m.end("out"):]
    DOC.write_text(text)


if __name__ == "__main__":
    update()
