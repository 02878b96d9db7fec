"""``python -m scratchrnn.bench [args]``: the same as ``scratchrnn bench`` (``--help``)."""

import sys

from scratchrnn.bench import cli

sys.exit(cli.main())
