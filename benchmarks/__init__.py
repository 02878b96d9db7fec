"""Benchmarks of the recurrent core: ``python -m benchmarks`` or ``scratchrnn bench``."""
