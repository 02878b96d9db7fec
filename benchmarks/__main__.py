"""``python -m benchmarks [args]``: the grid benchmark in ``benchmarks/grid.py`` (``--help``)."""

import sys

from benchmarks import grid

sys.exit(grid.main())
