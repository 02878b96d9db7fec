"""Numba's disk cache is stamped with every source file of ``scratchrnn.kernels``.

Numba alone keys a cached function on its own file, so after an edit to ``gates.py`` the
time loops in ``loops.py`` (which inline the gate functions) would keep running the old
machine code. These tests prove that an edit anywhere in the package recompiles them.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from numba import config

import scratchrnn
from scratchrnn import kernels
from scratchrnn.kernels import jit as kernel_jit

PKG = Path(scratchrnn.__file__).resolve().parent

pytestmark = pytest.mark.skipif(config.DISABLE_JIT, reason="with NUMBA_DISABLE_JIT=1 nothing is compiled or cached")


def test_digest_changes_with_any_file_of_the_package(tmp_path):
    copy = tmp_path / "kernels"
    shutil.copytree(PKG / "kernels", copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = kernel_jit.package_digest(str(copy))
    assert kernel_jit.package_digest(str(copy)) == before               # deterministic
    (copy / "gates.py").write_text((copy / "gates.py").read_text() + "\n# an edit\n")
    assert kernel_jit.package_digest(str(copy)) != before


@pytest.mark.parametrize("name", [n for n in kernels.__all__ if hasattr(getattr(kernels, n), "_cache")])
def test_every_kernel_uses_the_package_locator(name):
    locator = getattr(kernels, name)._cache._impl.locator
    assert isinstance(locator, (kernel_jit.PackageInTreeLocator, kernel_jit.PackageUserDirLocator))


_RUN = """
import numpy as np
from scratchrnn.kernels import rnn_forward_kernel
xw = np.full((2, 1, 3), 0.5, dtype=np.float32)
h = np.zeros((3, 1, 3), dtype=np.float32)
rnn_forward_kernel(xw, np.zeros((3, 3), dtype=np.float32), h, False, np.array([2]), 0, 0, 1)
print(repr(float(h[1, 0, 0])))
"""


def test_an_edit_to_gates_recompiles_the_loops(tmp_path):
    # A private copy of the package, so that its __pycache__ and the edit stay in tmp_path.
    shutil.copytree(PKG, tmp_path / "scratchrnn", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)

    def run():
        out = subprocess.run([sys.executable, "-c", _RUN], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return float(out.stdout)

    assert run() == pytest.approx(float(__import__("numpy").tanh(0.5)), rel=1e-6)   # compiled and cached
    gates = tmp_path / "scratchrnn" / "kernels" / "gates.py"
    gates.write_text(gates.read_text() + "\n\n@jit_inline\ndef tanh(x, single):\n    return 0.25\n")
    assert run() == 0.25       # the stale cache of loops.py would still give tanh(0.5)
