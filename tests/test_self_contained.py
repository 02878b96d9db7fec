"""The repository stands on its own: no code or document points at files outside it."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Names of files that live outside this repository, and a path that leaves it.
OUTSIDE = ("PERF_NOTES", "STYLE.md", "DESIGN.md", "../shared", "the issue")
FILES = sorted(p for ext in ("*.py", "*.md", "*.toml", "*.sh") for p in ROOT.rglob(ext)
               if not {".git", "runs", "build", ".venv"} & set(p.relative_to(ROOT).parts)
               and ".egg-info" not in str(p) and p.name != Path(__file__).name)


def test_there_are_files_to_read():
    assert {"README.md", "derivations.md", "loops.py"} <= {p.name for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_refers_to_nothing_outside_the_repository(path):
    text = path.read_text(errors="replace")
    found = [s for s in OUTSIDE if s in text]
    assert not found, f"{path.relative_to(ROOT)} mentions {found}"
