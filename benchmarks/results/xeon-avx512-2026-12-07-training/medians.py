"""The timing the scripts of this folder share: one call, then the median of ``n`` timed calls."""
import time

import numpy as np


def median_seconds(f, n=41, pause=0.0):
    """The median of ``n`` timed calls of ``f()``, after ``pause`` seconds and one untimed call."""
    time.sleep(pause)
    f()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))
