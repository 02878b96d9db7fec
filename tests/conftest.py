"""Shared test settings.

Hypothesis: deadlines off (Numba compiles on first call, and CI machines are
shared and noisy); in CI (``CI`` set) the examples are derandomized so a run is
reproducible. Select another profile with ``--hypothesis-profile``.

Fixtures ``torch`` and ``torch_ref``: a test that compares with torch takes one of them, so
without torch installed exactly those tests skip ("needs torch") and every other test runs.
Fixture ``two_threads``: Numba on two threads for one test (skipped where it has fewer).
"""

import os

import pytest
from hypothesis import settings

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def torch():
    """The torch module, for tests that compare with it: only they skip when torch is missing."""
    return pytest.importorskip("torch", reason="needs torch (not installed)")


@pytest.fixture
def torch_ref(torch):
    """The torch mirror (needs torch); a broken torch_ref fails the test, it does not skip."""
    import torch_ref
    return torch_ref


@pytest.fixture
def two_threads():
    """Numba on 2 threads for one test, restored after: row blocks can run. Skips where Numba
    was started with fewer (``NUMBA_NUM_THREADS``), since then every pass is serial."""
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("this machine runs Numba on one thread: every pass is serial")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    yield
    numba.set_num_threads(before)
