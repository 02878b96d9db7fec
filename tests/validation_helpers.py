"""Helpers of the malformed-input tests: clear-error assertions and bad-value generators.

``assert_clear_error`` is the contract those tests hold every public function to: the
exception is exactly the builtin ``kind``, raised by scratchrnn's own code (the innermost
traceback frame lies in the package), and its message holds every needle (what was expected,
what came).
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st

import scratchrnn as sr

try:
    import torch
except ImportError:              # the tests that need torch tensors skip those cases
    torch = None

PKG_DIR = Path(sr.__file__).resolve().parent
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def shape_str(shape):
    """A shape as Python prints a tuple."""
    return str(tuple(int(s) for s in shape))


def assert_clear_error(fn, kind, *needles):
    """``fn()`` raises exactly ``kind`` from scratchrnn's code, message holding every needle."""
    with pytest.raises(Exception) as info:
        fn()
    e = info.value
    assert type(e) is kind, f"expected {kind.__name__}, got {type(e).__module__}.{type(e).__name__}: {e}"
    assert type(e).__module__ == "builtins"
    origin = Path(info.traceback[-1].path).resolve()
    assert PKG_DIR in origin.parents, f"raised in {origin}, not by scratchrnn's checks: {e}"
    msg = str(e)
    for n in needles:
        assert n in msg, f"{n!r} not in message {msg!r}"
    return msg


def wrong_shapes(shape):
    """Shapes that are not ``shape``, many of which would broadcast against it."""
    shape = tuple(shape)
    cands = [(), shape[1:], (1,) + shape, shape + (1,), shape[::-1], shape[:-1] + (shape[-1] + 1,)]
    for i in range(len(shape)):
        cands.append(shape[:i] + (1,) + shape[i + 1:])          # a 1 that would broadcast
        cands.append(shape[:i] + (shape[i] + 1,) + shape[i + 1:])
    if len(shape) > 1:
        cands.append(shape[1:] + (1,))
    out = []
    for c in cands:
        if c != shape and c not in out:
            out.append(c)
    return out


def other_dtypes(dt):
    other = np.float64 if dt == np.float32 else np.float32
    return [other, np.float16, np.int64, np.int32, np.bool_, np.complex64]


def non_arrays(a):
    """Things that are not an ndarray standing where ``a`` is needed."""
    out = [a.tolist(), tuple(a.tolist()) if a.ndim else (a.item(),), 0.5, a.dtype.type(1.0)]
    return out + ([torch.from_numpy(a.copy())] if torch is not None else [])


def fill(rng, shape, dt):
    return rng.uniform(-1, 1, size=shape).astype(dt)


def with_nonfinite(data, a):
    """Copy of ``a`` with one NaN/inf/-inf; returns (bad array, word in message, index string)."""
    idx = tuple(data.draw(st.integers(0, s - 1)) for s in a.shape)
    val, word = data.draw(st.sampled_from([(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")]))
    bad = a.copy()
    bad[idx] = val
    return bad, word, shape_str(idx)


# ---------------------------------------------------------------------------
# sequence modules
# ---------------------------------------------------------------------------

def assert_common_rejections(case, data, good, dt, name, call_with, extra_non_arrays=()):
    """The cases every entry point shares: wrong dtype, not an array, NaN/inf.

    ``call_with(bad)`` returns the call to make with ``bad`` in place of ``good``.
    Returns False when ``case`` is none of them (the caller checks it).
    """
    if case == "dtype":
        bad = good.astype(data.draw(st.sampled_from(other_dtypes(dt))))
        assert_clear_error(call_with(bad), TypeError, name, str(bad.dtype), str(dt))
    elif case == "not_array":
        bad = data.draw(st.sampled_from(non_arrays(good) + list(extra_non_arrays)))
        assert_clear_error(call_with(bad), TypeError, name, "numpy.ndarray", type(bad).__name__)
    elif case == "nonfinite":
        bad, word, idx = with_nonfinite(data, good)
        assert_clear_error(call_with(bad), ValueError, name, word, idx)
    else:
        return False
    return True



def pack(s, states):
    return tuple(states) if s["kind"] == "lstm" else states[0]


def snapshot(m):
    return m._cache, m.generator.bit_generator.state


def assert_untouched(m, snap):
    cache, gen = snap
    assert m._cache is cache, "a rejected forward replaced the cache of the last good forward"
    assert m.generator.bit_generator.state == gen, "a rejected forward consumed dropout randomness"

