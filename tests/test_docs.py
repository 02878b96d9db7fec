"""Every executable example in the README and in docstrings runs (STYLE.md, habit 7)."""

import doctest
import importlib
import pathlib
import re

import pytest

import scratchrnn
from scratchrnn import modules

# the package re-exports the function ``gradcheck``, which shadows the submodule's name
gradcheck_module = importlib.import_module("scratchrnn.gradcheck")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_examples():
    assert len(_readme_blocks()) >= 1


@pytest.mark.parametrize("i", range(len(_readme_blocks())))
def test_readme_example_runs(i):
    pytest.importorskip("torch")
    exec(compile(_readme_blocks()[i], f"README.md block {i}", "exec"), {})


@pytest.mark.parametrize("module", [modules, gradcheck_module, scratchrnn], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
