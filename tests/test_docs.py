"""Every executable example in the README and in docstrings runs."""

import doctest
import importlib
import pathlib
import pkgutil
import re

import pytest

import scratchrnn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_examples():
    assert len(_readme_blocks()) >= 1


def test_readme_has_a_complete_training_loop():
    """The README shows the whole loop: model, head, loss, clipping, optimizer, checkpoint."""
    loop = [b for b in _readme_blocks() if "opt.step()" in b]
    assert loop and all(w in loop[0] for w in ("sr.Linear", "sr.cross_entropy", "sr.clip_grad_norm",
                                                "os.replace", "allow_pickle=False"))


@pytest.mark.parametrize("i", range(len(_readme_blocks())))
def test_readme_example_runs(i, tmp_path, monkeypatch):
    block = _readme_blocks()[i]
    if re.search(r"^\s*(?:import|from)\s.*\btorch\b", block, flags=re.M):     # the blocks that compare with torch
        pytest.importorskip("torch", reason="needs torch (not installed): the example imports it")
    monkeypatch.chdir(tmp_path)                  # files an example writes land here
    exec(compile(block, f"README.md block {i}", "exec"), {})


def _modules_with_examples():
    """Every module of the package whose source holds a ``>>>`` example (torch-only ones excluded)."""
    names = []
    for info in pkgutil.walk_packages(scratchrnn.__path__, prefix="scratchrnn."):
        spec = importlib.util.find_spec(info.name)
        source = pathlib.Path(spec.origin).read_text()
        if ">>> " in source:
            names.append(info.name)
    return names


def test_examples_are_found():
    # the walk must see the examples we know of, or the test below checks nothing
    assert {"scratchrnn.registry", "scratchrnn.modules.recurrent", "scratchrnn.gradcheck"} <= set(_modules_with_examples())


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has '>>> ' in its source but doctest found no example in its docstrings"
    assert result.failed == 0
