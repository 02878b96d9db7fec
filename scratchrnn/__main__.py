"""``python -m scratchrnn`` is the ``scratchrnn`` command."""

from scratchrnn.apps.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
