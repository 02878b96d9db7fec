"""Checkpoints: a ``dict[str, np.ndarray]`` saved atomically as ``.npz``, loaded without pickle.

    >>> import os, tempfile, numpy as np
    >>> from scratchrnn import checkpoint
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "model.npz")
    >>> checkpoint.save(path, {"weight": np.eye(2), "meta": np.array('{"epoch": 3}')})
    >>> state = checkpoint.load(path)
    >>> sorted(state), state["weight"].tolist(), str(state["meta"])
    (['meta', 'weight'], [[1.0, 0.0], [0.0, 1.0]], '{"epoch": 3}')
    >>> os.listdir(folder)
    ['model.npz']

``save`` writes a temporary file beside the target (``.<name>.<pid>.<random>.tmp``),
flushes it to disk, then ``os.replace``-s it over the target: a reader sees the old file or
the new one, never half of one. A save that is killed outright (SIGKILL, power loss) cannot
remove its temporary file; the next ``save`` to the same target does, once the process that
wrote it is gone (or, where that cannot be asked, once it is a day old). ``load`` refuses
pickled content, so loading a checkpoint never runs code.
"""

import os
import re
import secrets
import time
import zipfile
import zlib

import numpy as np

STALE_SECONDS = 24 * 3600      # a temporary file this old is stale whatever wrote it


class CheckpointError(ValueError):
    """A checkpoint file that exists but cannot be read: not an .npz, corrupt, or pickled."""


def save(path, arrays):
    """Write ``arrays`` (name -> ndarray, no object dtype) to the ``.npz`` file ``path`` atomically.

    The folder is created if needed. Leftover temporary files of earlier killed saves of
    the same ``path`` are removed first.
    """
    path = os.fspath(path)
    arrays = _checked(arrays)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    name = os.path.basename(path)
    remove_stale(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:   # the layout np.savez writes
                for key, a in arrays.items():
                    with z.open(key + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, a, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _sync_folder(folder)


def load(path):
    """The dict name -> ndarray saved in ``path``; never unpickles.

    FileNotFoundError when there is no file; ``CheckpointError`` (a ValueError) naming the
    file and the fault when it is not an ``.npz``, is corrupt or holds pickled objects.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path} is a single .npy array, expected an .npz checkpoint")
        with z:
            return {k: z[k] for k in z.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable .npz checkpoint: {e}") from None
    except ValueError as e:                  # pickled data or object arrays, a damaged .npy header
        raise CheckpointError(f"{path} cannot be loaded without pickle: {e}") from None
    except Exception as e:                   # noqa: BLE001  (e.g. UnpicklingError on a text file)
        raise CheckpointError(f"{path} is not an .npz checkpoint: {type(e).__name__}: {e}") from None


def remove_stale(path):
    """Remove the temporary files that killed saves of ``path`` left; return their paths."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(os.path.basename(path))}\.(\d+)\.[0-9a-f]+\.tmp")
    removed = []
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry)
        full = os.path.join(folder, entry)
        if match and _is_stale(full, int(match.group(1))):
            try:
                os.unlink(full)
                removed.append(full)
            except FileNotFoundError:        # another save removed it first
                pass
    return removed


def _is_stale(tmp, pid):
    try:
        age = time.time() - os.stat(tmp).st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_SECONDS:
        return True
    if pid == os.getpid() or os.name != "posix":   # ours (another thread's save), or no way to ask
        return False
    try:
        os.kill(pid, 0)                      # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:                  # alive, owned by someone else
        return False
    return False


def _checked(arrays):
    if not hasattr(arrays, "items"):
        raise TypeError(f"expected a dict name -> numpy.ndarray, got {type(arrays).__name__}")
    out = {}
    for key, a in arrays.items():
        if not isinstance(key, str) or not key or "/" in key or "\\" in key:
            raise ValueError(f"expected array names as non-empty str without '/' or '\\\\', got {key!r}")
        if not isinstance(a, np.ndarray):
            raise TypeError(f"expected {key!r} as a numpy.ndarray, got {type(a).__name__}")
        if a.dtype.hasobject:
            raise TypeError(f"{key!r} has dtype {a.dtype}, which needs pickle: expected numbers, "
                            f"bools or strings")
        out[key] = a
    return out


def _sync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
