"""The sin -> cos regression task's input and target segments."""


import numpy as np

from scratchrnn import checks


def sine_segments(num_segments, steps_per_segment=10, span=np.pi, start=0.0, endpoint=False):
    """The sin -> cos regression of the classic PyTorch "RNN regressor" tutorial.

    Segment ``k`` (k = 0 .. num_segments-1) samples the time axis exactly as the
    tutorial's training loop does::

        t = np.linspace(start + k*span, start + (k+1)*span, steps_per_segment,
                        dtype=np.float32, endpoint=endpoint)

    i.e. with the default ``endpoint=False``, ``t = start + k*span + j*span/S`` for
    j = 0 .. S-1: consecutive segments tile one time axis with no gap or repeat, so a
    hidden state carried from one segment to the next sees a continuous signal.
    (``endpoint=True`` gives the tutorial's first version, where the last time of a
    segment repeats as the first of the next.) Yields ``(x, y) = (sin t, cos t)``,
    each float32 of shape (T, N, I) = (steps_per_segment, 1, 1), time-major.
    """
    num_segments = checks.positive_int("num_segments", num_segments)
    steps_per_segment = checks.positive_int("steps_per_segment", steps_per_segment)
    span, start = float(span), float(start)
    if not np.isfinite(span) or span <= 0 or not np.isfinite(start):
        raise ValueError(f"expected a finite span > 0 and a finite start, got span={span}, start={start}")

    def segments():
        for k in range(num_segments):
            t = np.linspace(start + k * span, start + (k + 1) * span, steps_per_segment,
                            dtype=np.float32, endpoint=endpoint)         # (T,)
            yield np.sin(t)[:, None, None], np.cos(t)[:, None, None]   # (T, 1, 1) each

    return segments()
