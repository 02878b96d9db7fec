"""Checkpoints: ``.npz`` files written atomically and read without pickle.

A checkpoint holds the weights, the optimizer state and, for a run stopped inside an
epoch, the carried hidden state; the JSON ``__meta__`` entry holds the run's settings,
where it stands (``epoch`` completed epochs, ``step`` batches done of the next one) and
the random generator's state. Writing goes to a temporary file in the same folder that
``os.replace`` moves into place, so a reader sees the old file or the new one, never a
half-written one; a temporary file left by a killed save is removed by the next save.
Nothing non-finite is ever written: :func:`save` refuses it.
"""

import glob
import json
import os
import tempfile
import zipfile

import numpy as np

CHECKPOINT = "checkpoint.npz"
FORMAT = 2                      # bumped when the meta layout changes
_TMP_PREFIX = ".checkpoint-"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not fit the command."""


class Diverged(RuntimeError):
    """Training produced a non-finite loss, weight, optimizer or hidden state."""


def non_finite(arrays):
    """Names of the float arrays in ``arrays`` that hold NaN or inf (sorted)."""
    return sorted(k for k, v in arrays.items()
                  if np.asarray(v).dtype.kind in "fc" and not np.isfinite(v).all())


def save(path, arrays, meta):
    """Write ``arrays`` and the JSON-able ``meta`` to ``path`` atomically.

    Raises :class:`Diverged` (and writes nothing) when an array holds NaN or inf.
    """
    bad = non_finite(arrays)
    if bad:
        raise Diverged(f"refusing to save a checkpoint with non-finite values in {', '.join(bad[:4])}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, _TMP_PREFIX + "*.npz")):   # left by a killed save
        os.unlink(stale)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=_TMP_PREFIX, suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps({"format": FORMAT, **meta})), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path):
    """``(arrays, meta)`` from a checkpoint; :class:`CheckpointError` says why one cannot be read."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{path} is empty, not a checkpoint")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "__meta__" not in z.files:
                raise CheckpointError(f"{path} is not a scratchrnn checkpoint (no __meta__ entry)")
            meta = json.loads(str(z["__meta__"]))
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path} cannot be read as a checkpoint (truncated or corrupt?): "
                              f"{type(e).__name__}: {e}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path} is not a scratchrnn training checkpoint (no settings in it)")
    return arrays, meta


def check_matches(meta, config, names, folder):
    """Refuse to resume when a setting in ``names`` differs between the checkpoint and the command."""
    stored = meta["config"]
    if meta.get("task") != config["task"]:
        raise CheckpointError(f"--resume: {folder} holds a {meta.get('task')!r} run, "
                              f"not a {config['task']!r} one")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"--resume: {folder} holds a checkpoint of format "
                              f"{meta.get('format')!r}; this version reads format {FORMAT}")
    for name in names:
        if stored.get(name) != config.get(name):
            flag = "--" + name.replace("_", "-")
            raise CheckpointError(
                f"--resume: the run in {folder} was trained with {flag} {_show(stored.get(name))}, "
                f"this command gives {_show(config.get(name))}; repeat the run's settings, or start "
                f"a new run (another --out, or --force to replace this one)")


def check_arrays(arrays, expected, path):
    """Every array a fresh model would save is there with the same shape and dtype."""
    for k, v in expected.items():
        if k not in arrays:
            raise CheckpointError(f"{path} lacks {k!r}; it was not written by this model")
        if arrays[k].shape != v.shape or arrays[k].dtype != v.dtype:
            raise CheckpointError(f"{path}: {k!r} has shape {arrays[k].shape} and dtype "
                                  f"{arrays[k].dtype}, the model expects {v.shape} and {v.dtype}")
    bad = non_finite(arrays)
    if bad:
        raise CheckpointError(f"{path} holds non-finite values in {', '.join(bad[:4])}")


def _show(v):
    return "(none)" if v is None else str(v)


def rng_state(rng):
    """A numpy Generator's state as a JSON-able dict."""
    return rng.bit_generator.state


def restore_rng(state):
    try:
        rng = np.random.default_rng()
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"the checkpoint's random-generator state is unusable: {e}") from None
    return rng


def state_arrays(state):
    """A carried hidden state (None, h, or (h, c)) as ``state.i`` arrays."""
    parts = state if isinstance(state, tuple) else (state,)
    return {f"state.{i}": s for i, s in enumerate(parts) if s is not None}


def state_from(arrays):
    parts = [arrays[k] for k in sorted(a for a in arrays if a.startswith("state."))]
    return None if not parts else (tuple(parts) if len(parts) == 2 else parts[0])
