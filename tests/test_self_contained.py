"""The repository stands on its own: every Markdown document the docs name exists in it, and no
relative path in code or docs leaves it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_PARTS = {".git", "runs", "build", ".venv"}
FILES = sorted(p for ext in ("*.py", "*.md", "*.toml", "*.sh") for p in ROOT.rglob(ext)
               if not SKIP_PARTS & set(p.relative_to(ROOT).parts) and ".egg-info" not in str(p))
MD_NAMES = {p.name for p in ROOT.rglob("*.md") if not SKIP_PARTS & set(p.relative_to(ROOT).parts)}
MD_MENTION = re.compile(r"\b([A-Za-z0-9_-]+\.md)\b")
REL_PATH = re.compile(r"(?<![\w/.])((?:\.\./)+[\w./-]+)")


def test_there_are_files_to_read():
    assert {"README.md", "derivations.md", "loops.py"} <= {p.name for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_names_only_files_of_the_repository(path):
    text = path.read_text(errors="replace")
    # documents named in prose; code also names files it writes (summary.md, …), so only docs are read
    missing = sorted(set(MD_MENTION.findall(text)) - MD_NAMES) if path.suffix == ".md" else []
    assert not missing, f"{path.relative_to(ROOT)} names documents that are not in the repository: {missing}"
    outside = [r for r in REL_PATH.findall(text)
               if ROOT not in (path.parent / r).resolve().parents and (path.parent / r).resolve() != ROOT]
    assert not outside, f"{path.relative_to(ROOT)} points outside the repository: {outside}"
