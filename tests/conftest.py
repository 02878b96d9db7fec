"""Shared test settings.

Hypothesis: deadlines off (Numba compiles on first call, and CI machines are
shared and noisy); in CI (``CI`` set) the examples are derandomized so a run is
reproducible. Select another profile with ``--hypothesis-profile``.
"""

import os

from hypothesis import settings

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
