"""``python -m benchmarks [args]``: the side-by-side benchmark in ``benchmarks/core.py``."""

import sys

from benchmarks import core

sys.exit(core.main())
