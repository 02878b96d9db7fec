"""Input validation: every error says what was expected and what came."""

import numbers

import numba
import numpy as np

from scratchrnn.kernels.finite import any_non_finite, any_non_finite_blocks, scan_blocks

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


FLOAT_NAMES = {"float32": FLOAT_DTYPES[0], "float64": FLOAT_DTYPES[1]}


def as_float_dtype(dtype):
    """The module dtype as ``np.dtype``: ``np.float32``/``np.float64``, their ``np.dtype``
    or their names ``"float32"``/``"float64"``; anything else (None included, which NumPy
    would read as float64) is a TypeError."""
    if isinstance(dtype, str):
        dt = FLOAT_NAMES.get(dtype)
    elif dtype is np.float32 or dtype is np.float64:
        dt = np.dtype(dtype)
    elif isinstance(dtype, np.dtype) and dtype in FLOAT_DTYPES and dtype.isnative:
        dt = dtype
    else:
        dt = None
    if dt is None:           # never ``dt not in FLOAT_DTYPES``: np.dtype("float64") == None is True
        raise TypeError(f"dtype must be float32 or float64 (the type, its np.dtype or its name), "
                        f"got {dtype!r}")
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
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = shape_doc or shape_str("*" if s is None else s for s in shape)
        raise ValueError(f"expected {name} of shape {want}, got {shape_str(a.shape)}")
    finite(name, a)
    return a


def all_finite(a):
    """Whether every value of the float array ``a`` is finite, without a temporary array of
    its size (in a char-LM training step the boolean temporaries of ``np.isfinite(a).all()``
    were fresh pages on every call, and each page fault costs microseconds on a virtual
    machine).

    A C-contiguous float32 or float64 ndarray is read once by a compiled scan of its exponent
    bits (``kernels.finite``; an array of 2 MiB or more in blocks on Numba's threads): 0.6 µs
    for a small array, where NumPy's calls cost 2–4 µs, and paid by every module call on its
    input and its output's gradient. Any other array, and every array with
    ``NUMBA_DISABLE_JIT=1``, is summed instead: NaN or ±inf anywhere makes the sum non-finite,
    so a finite sum settles it; a sum that overflowed is checked value by value."""
    exponent = _EXPONENT_BITS.get(a.dtype)
    if (exponent is not None and type(a) is np.ndarray and a.flags.c_contiguous
            and not numba.config.DISABLE_JIT):          # (a subclass may not reshape to 1-D)
        bits = a.reshape(-1).view(exponent.dtype)
        nblocks = scan_blocks(a.nbytes)              # large arrays on all of Numba's threads
        if nblocks > 1:
            return not any_non_finite_blocks(bits, exponent, nblocks)
        return not any_non_finite(bits, exponent)
    with np.errstate(over="ignore", invalid="ignore"):   # an overflow or inf − inf here is no error
        total = np.add.reduce(a, axis=None)
    return bool(np.isfinite(total)) or bool(np.isfinite(a).all())


# The exponent field of each float dtype, as an unsigned integer of its width: all ones in
# NaN and ±inf only.
_EXPONENT_BITS = {np.dtype(np.float32): np.uint32(0x7F800000),
                  np.dtype(np.float64): np.uint64(0x7FF0000000000000)}


def finite(name, a):
    if not all_finite(a):
        bad = np.argwhere(~np.isfinite(a))[0]
        kind = "NaN" if np.isnan(a[tuple(bad)]) else "inf"
        raise ValueError(f"{name} contains {kind} at index {tuple(int(i) for i in bad)}")


def ndarray(name, a):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    return a


def same_dtype(name, a, dtype):
    ndarray(name, a)
    if a.dtype != dtype:
        raise TypeError(f"expected {name} of dtype {dtype} (the dtype of x), got {a.dtype}")
    return a


def shaped(name, a, dtype, shape, shape_doc):
    """``a`` is an ndarray of ``dtype`` and exactly ``shape``; its values are not looked at."""
    same_dtype(name, a, dtype)
    if a.shape != tuple(shape):
        raise ValueError(f"expected {name} of shape {shape_doc} = {shape_str(shape)}, got {shape_str(a.shape)}")
    return a


def integer_lengths(lengths, T, N):
    """None, or (N,) integers in 1..T, returned as a fresh int64 copy (the kernels index with it)."""
    if lengths is None:
        return None
    a = np.asarray(lengths)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"expected integer lengths, got dtype {a.dtype}")
    if a.shape != (N,):
        raise ValueError(f"expected lengths of shape ({N},), got {shape_str(a.shape)}")
    if a.min() < 1 or a.max() > T:
        bad = a[(a < 1) | (a > T)][0]
        raise ValueError(f"lengths must be in 1..{T} (the padded length), got {bad}")
    return a.astype(np.int64, copy=True)


# Samples per array in a fingerprint. Measured (2-core EPYC Zen 4, NumPy 2.4): under 1 µs per
# array, so a few µs for the arrays a layer's forward stamps (an LSTM's x, h, c, W_ih and W_hh;
# the models' layers, called with ``checked=True``, x and the two weights only), taken twice
# per layer forward+backward (after the forward, and by the module before any backward, which
# tells the functional backward not to check again); a fixed cost next to ~100 µs for a whole
# module call at size 1.
# A full CRC-32 of the 3.5 MB an LSTM(128, 128) saves at T=128, N=16 costs ~1.7 ms per pass.
FINGERPRINT_SAMPLES = 256


def fingerprint(a):
    """A cheap identity of ``a``'s content: shape, strides and the bytes of
    ``FINGERPRINT_SAMPLES`` evenly spaced elements. Any in-place update that changes one of
    those (an optimizer step, ``x[...] = y``, ``x *= 2``) changes it; an edit of a single
    element between the samples does not. A cache keeps the arrays themselves, whose memory
    cannot move, so the address is not part of it (reading it costs more than the rest)."""
    step = a.size // FINGERPRINT_SAMPLES or 1
    if a.flags.c_contiguous:
        picked = a.ravel()[::step]
    else:
        picked = a.flat[np.arange(0, a.size, step)]
    return a.shape, a.strides, picked.tobytes()


def fingerprints(named):
    """{name: fingerprint} for the (name, array) pairs whose array is not None."""
    return {k: fingerprint(v) for k, v in named if v is not None}


def unchanged(stamps, named, where):
    """RuntimeError, as torch's version counter gives, when an array the forward saved has
    changed in place since: its gradients would be silently wrong. Checks the (name, array)
    pairs of ``named`` that have a stamp."""
    for k, v in named:
        if k in stamps and fingerprint(v) != stamps[k]:
            raise RuntimeError(f"{where}: {k}, saved by the forward pass, was modified in place "
                               f"since; run the forward again before backward")


def accumulators(where, arrays, shapes, dtype):
    """The arrays a backward adds its weight and bias gradients into, (dw_ih, dw_hh, db_ih,
    db_hh[, dw_hr]), checked against ``shapes`` (five; None for a parameter the layer lacks,
    whose array must be None): each of ``dtype``, C-contiguous and writeable. Returns five."""
    names = ("dw_ih", "dw_hh", "db_ih", "db_hh", "dw_hr")
    arrays = tuple(arrays)
    if len(arrays) not in (4, 5):
        raise ValueError(f"{where}: expected accumulate = (dw_ih, dw_hh, db_ih, db_hh[, dw_hr]), "
                         f"got {len(arrays)} arrays")
    arrays += (None,) * (5 - len(arrays))
    for name, a, shape in zip(names, arrays, shapes):
        if shape is None:
            if a is not None:
                raise ValueError(f"{where}: accumulate has {name}, but the layer has no such parameter")
            continue
        if a is None:
            raise ValueError(f"{where}: expected accumulate's {name} of shape {shape_str(shape)}, got None")
        if not isinstance(a, np.ndarray) or a.dtype != dtype:
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{where}: expected accumulate's {name} a numpy.ndarray of dtype {dtype} "
                            f"(the dtype of x), got {got}")
        if a.shape != tuple(shape):
            raise ValueError(f"{where}: expected accumulate's {name} of shape {shape_str(shape)}, "
                             f"got {shape_str(a.shape)}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{where}: expected accumulate's {name} C-contiguous (BLAS adds into it as it lies)")
        if not a.flags.writeable:
            raise ValueError(f"{where}: expected accumulate's {name} writeable, got a read-only array")
    return arrays
