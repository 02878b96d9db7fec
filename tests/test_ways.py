"""The two-ways benchmarks (``scratchrnn.bench.ways``, used by ``bench.directions`` and
``bench.pieces``): their check that both ways compute the same can fail."""

import pytest

from scratchrnn.bench import directions, pieces, ways
from quick_settings import QUICK


@pytest.mark.parametrize("benchmark, changed, point", [(pieces, "pieces", ("rnn", 32, 16, 20)),
                                                       (directions, "side_by_side", ("rnn", 4, 1, 8))])
def test_a_benchmark_rejects_ways_that_disagree(monkeypatch, benchmark, changed, point):
    """One way's output and dx off by 1e-3, more than the benchmark's ``AGREE`` (1e-6, 1e-4)
    allows of their largest value: the point raises instead of being timed."""
    impl = ways.way_impl

    def wrong(name, way, m, x, d_out):
        right = impl(name, way, m, x, d_out)
        return right if name != changed else right._replace(call=lambda: right.call() + 1e-3)
    monkeypatch.setattr(ways, "way_impl", wrong)
    with pytest.raises(AssertionError, match="differ"):
        benchmark.measure_point(*point, QUICK)
