"""Measurement settings for tests of the two-ways benchmarks (``bench.directions``,
``bench.pieces``): no waiting for a quiet machine, one short sample per way."""

from scratchrnn.bench import measure, timing

OFF = timing.Guard(reader=lambda: None)
QUICK = measure.Settings(OFF, samples=1, min_sample_s=0.001, pause=0, extra=0)
