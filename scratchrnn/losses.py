"""Losses and one-hot encoding. Each loss returns ``(loss, d_input)`` like a fused forward+backward."""

import numpy as np

from . import checks
from .kernels.softmax import cross_entropy_rows


def one_hot(indices, num_classes, dtype=np.float32):
    """Integer indices of any shape -> array of shape ``indices.shape + (num_classes,)``.

    ``dtype`` is float32 or float64 (a model's dtype), like the modules'.
    """
    dtype = checks.as_float_dtype(dtype)
    indices = np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"expected integer indices, got dtype {indices.dtype}")
    num_classes = checks.positive_int("num_classes", num_classes)
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        bad = indices[(indices < 0) | (indices >= num_classes)].flat[0]
        raise ValueError(f"index {bad} is out of range for num_classes={num_classes} "
                         f"(expected 0 <= index < {num_classes})")
    out = np.zeros(indices.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, indices[..., None], 1, axis=-1)
    return out


def cross_entropy(logits, targets):
    """Mean cross-entropy over rows from raw logits, like ``torch.nn.functional.cross_entropy``.

    logits (M, C) float, targets (M,) integer class indices. Returns ``(loss, dlogits)``
    with ``dlogits = (softmax(logits) - onehot(targets)) / M``. The log-softmax
    subtracts each row's max first, so large logits never overflow.

    One compiled pass per row (``kernels.softmax.cross_entropy_rows``); the same maths in
    NumPy, line by line, is ``scratchrnn.reference.cross_entropy``. The loss and the sums
    behind it are taken in float64 and rounded once to the logits' dtype.
    """
    checks.ndarray("logits", logits)
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape (M, C), got {checks.shape_str(logits.shape)}")
    if logits.dtype not in checks.FLOAT_DTYPES:
        raise TypeError(f"expected float32 or float64 logits, got {logits.dtype}")
    checks.finite("logits", logits)
    targets = np.asarray(targets)
    M, C = logits.shape
    if targets.shape != (M,):
        raise ValueError(f"expected targets of shape ({M},), got {checks.shape_str(targets.shape)}")
    if M == 0:
        raise ValueError("expected at least one row of logits, got shape (0, C)")
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"expected integer targets, got dtype {targets.dtype}")
    if targets.min() < 0 or targets.max() >= C:
        bad = targets[(targets < 0) | (targets >= C)][0]
        raise ValueError(f"target {bad} is out of range for {C} classes")
    nll = np.empty(M)                                                  # (M,) −log softmax at the target
    d = np.empty((M, C), logits.dtype)                                 # (M, C)
    # C-contiguous, writeable, intp: the one compiled version per dtype (a read-only or strided
    # array is another type to Numba, and would compile another)
    cross_entropy_rows(np.require(logits, requirements=["C", "W"]), np.array(targets, dtype=np.intp), nll, d)
    return logits.dtype.type(nll.mean()), d


def mse_loss(pred, target):
    """Mean squared error over all elements, like ``torch.nn.functional.mse_loss``.

    Returns ``(loss, dpred)`` with ``dpred = 2 (pred − target) / numel``.
    """
    if not isinstance(pred, np.ndarray) or pred.dtype not in checks.FLOAT_DTYPES:
        raise TypeError(f"expected pred as a float32/float64 ndarray, got "
                        f"{getattr(pred, 'dtype', type(pred).__name__)}")
    checks.array("target", target, pred.dtype, pred.shape)
    checks.finite("pred", pred)
    if pred.size == 0:
        raise ValueError("expected a non-empty pred, got shape " + checks.shape_str(pred.shape))
    diff = pred - target
    return pred.dtype.type(np.mean(diff * diff)), (2 / pred.size) * diff

