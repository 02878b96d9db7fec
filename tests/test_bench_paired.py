"""Ratios of samples timed in the same round (``timing.paired_ratios``), the distribution-free
interval about their median (``timing.median_interval``), and where the reports show them: the
grid's targets and the training-time table."""

import math

import numpy as np

from scratchrnn.bench import document, report, timing

from grid_helpers import row as _row


def test_median_interval_takes_the_order_statistics_the_binomial_allows():
    # n = 5: only the least and the largest reach 0.9, with probability 1 − 2/2⁵
    assert timing.median_interval([3.0, 1.0, 5.0, 2.0, 4.0]) == (1.0, 5.0, 1 - 2 / 32)
    # n = 10: the second least and second largest, 1 − 2·(1 + 10)/2¹⁰; the third would give
    # 1 − 2·(1 + 10 + 45)/2¹⁰ = 0.891 < 0.9
    values = list(np.random.default_rng(0).permutation(10).astype(float))
    assert timing.median_interval(values) == (1.0, 8.0, 1 - 2 * 11 / 1024)
    assert timing.median_interval([1.0, 2.0, 3.0, 4.0]) is None       # at most 1 − 2/16 = 0.875
    low, high, coverage = timing.median_interval(list(range(20)), confidence=0.5)
    assert (low, high) == (7, 12) and coverage == 1 - 2 * sum(math.comb(20, i) for i in range(8)) / 2 ** 20


def test_median_interval_holds_the_median_as_often_as_it_says():
    """Skewed samples (lognormal, median 1): over 4000 draws of 10 the interval holds 1 in a
    share within 4 standard errors (sqrt(p(1 − p)/4000) ≈ 0.0023) of its stated 0.9785; one
    order statistic further in or out would give 0.891 or 0.998."""
    rng = np.random.default_rng(1)
    draws = rng.lognormal(0.0, 1.0, size=(4000, 10))
    coverage = timing.median_interval(draws[0])[2]
    held = np.mean([lo <= 1.0 <= hi for lo, hi, _ in map(timing.median_interval, draws)])
    assert abs(held - coverage) < 4 * math.sqrt(coverage * (1 - coverage) / len(draws))


def test_paired_ratios_take_the_rounds_both_took_part_in():
    # the second implementation took three extra samples, the first none: five rounds pair
    assert timing.paired_ratios([2.0, 4.0, 6.0, 8.0, 10.0], [1.0, 2.0, 3.0, 4.0, 5.0, 9, 9, 9]) == [2.0] * 5
    assert timing.paired_ratios([], [1.0]) == []


def _pair(H, ours, theirs, **kw):
    """LSTM T=32 N=16 float32 (target 0.8× from H = 64) with these samples."""
    a, b = _row("lstm", 32, 16, H, "scratchrnn", float(np.median(ours)), **kw), \
        _row("lstm", 32, 16, H, "torch_cpu", float(np.median(theirs)))
    a["samples_s"], b["samples_s"] = list(ours), list(theirs)
    return [a, b]


def test_targets_say_where_the_paired_rounds_hold_the_limit():
    torch = [1.0, 1.0, 1.0, 1.0, 1.0]
    rows = (_pair(64, [0.7, 0.75, 0.85, 0.9, 0.95], torch)          # ratios 0.7 … 0.95: holds 0.8
            + _pair(128, [0.9, 0.95, 1.0, 1.05, 1.1], torch)         # wholly above 0.8
            # torch fast in 4 rounds of 10: the medians give 0.675 (ours (0.5 + 0.85) / 2 over 1),
            # but 9 rounds of 10 took 0.84–0.85x, the second least and largest of the ratios
            + _pair(256, [0.42] * 4 + [0.5] + [0.85] * 5, [0.5] * 4 + [1.0] * 6)
            + _pair(1024, [0.6, 0.65, 0.7, 0.75, 0.85], torch)          # met, 0.6 … 0.85: holds 0.8
            + [_row("lstm", 32, 16, 512, "scratchrnn", 0.9), _row("lstm", 32, 16, 512, "torch_cpu", 1.0)])
    t = {x["H"]: x for x in report.targets(rows)}
    assert t[64]["paired"] == dict(median=0.85, low=0.7, high=0.95, coverage=1 - 2 / 32, rounds=5,
                                   within_noise=True)
    assert t[128]["paired"]["within_noise"] is False and not t[128]["ok"]
    assert t[256]["ok"] and t[256]["paired"]["low"] > 0.8 and t[256]["paired"]["rounds"] == 10
    assert t[512]["paired"] is None                  # rows without samples (an old run)
    text = "\n".join(report.targets_section(rows))
    assert "| 0.85× | 0.85× (0.7× – 0.95×) |  |  | **MISS**, within noise |" in text
    assert "| 1× | 1× (0.9× – 1.1×) |  |  | **MISS** |" in text
    assert "| 0.675× | 0.845× (0.84× – 0.85×) |  |  | PASS, paired rounds: MISS |" in text
    assert "| 0.7× | 0.7× (0.6× – 0.85×) |  |  | PASS, within noise |" in text
    assert "| 0.9× |  |  |  | **MISS** |" in text
    assert "Within noise here: 1 of the 2 missed ratio targets with paired rounds, 1 of the 2 met ones." in text
    # no samples anywhere (older runs): no column and no note
    text = "\n".join(report.targets_section(rows[-2:]))
    assert "paired rounds" not in text.lower() and "| 0.9× |  |  | **MISS** |" in text


def test_the_training_table_gives_the_paired_chunks():
    side = lambda s: dict(epoch_s=sum(s), spread=0.1, n_rejected=0, flagged=False, samples_s=s,  # noqa: E731
                          batches=10)
    rows = [dict(task="mnist", settings="lstm", scratchrnn=side([1.4, 1.3, 1.5, 1.2, 1.6]),
                 torch_cpu=side([2.0] * 5), time_over_torch_cpu=0.7),
            dict(task="sine", settings="rnn", scratchrnn=side([1.0] * 4), torch_cpu=side([2.0] * 4),
                 time_over_torch_cpu=0.5)]
    text = "\n".join(document.train_table(rows))
    assert "| **0.7×** | 0.7× (0.6× – 0.8×) |" in text
    assert "| **0.5×** |  |" in text                 # four chunks: too few for the interval
