"""Input validation: every error says what was expected and what came."""

import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype):
    """The module dtype as ``np.dtype``: float32 or float64, anything else is a TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def dropout_prob(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"dropout must be a number in [0, 1], got {value!r}")
    return float(value)


def shape_str(shape):
    """A shape as Python prints a tuple: ``(2, 3)``, ``(4,)``, ``()``."""
    parts = [str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def array(name, a, dtype, shape, shape_doc=None):
    """Check that ``a`` is a finite ndarray of exactly ``dtype`` and ``shape``; return it.

    ``shape`` may contain None for "any size". ``shape_doc`` names the dimensions,
    e.g. ``"(T, N, 28)"``, for the message.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"expected {name} of dtype {dtype}, got {a.dtype}")
    ok = a.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, a.shape))
    if not ok:
        want = shape_doc or shape_str("*" if s is None else s for s in shape)
        raise ValueError(f"expected {name} of shape {want}, got {shape_str(a.shape)}")
    finite(name, a)
    return a


def finite(name, a):
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        kind = "NaN" if np.isnan(a[tuple(bad)]) else "inf"
        raise ValueError(f"{name} contains {kind} at index {tuple(int(i) for i in bad)}")
