"""MNIST as arrays, read straight from the four original IDX files with NumPy.

Each file is an IDX array: a big-endian magic number (2051 for the 3-D images, 2049 for the
1-D labels: unsigned bytes, 3 or 1 dimensions), one big-endian int32 per dimension, then the
bytes. Everything about it is checked (gzip stream, magic, dimensions, payload length, labels
in 0..9), and the data folder is only ever read: nothing is extracted next to the files.
"""

import gzip
import hashlib
import os
import urllib.request
import warnings
import zlib

import numpy as np

from scratchrnn.apps.data.paths import CACHE_DIR, DATA_ENV, MNIST_FILES, DataError, data_dir as _data_dir_env

# Where a missing file is downloaded from, in order (torchvision's mirrors).
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_IMAGES, _LABELS = 2051, 2049          # IDX magic: 0x0803 (uint8, 3 dims), 0x0801 (uint8, 1 dim)


def load_mnist(data_dir=None, train=True, download=True):
    """MNIST as arrays: ``images`` float32 (M, 28, 28) in [0, 1] (``uint8 / 255``, the same
    values as torchvision's ``ToTensor``) and ``labels`` int64 (M,).

    ``data_dir`` is the root that holds ``MNIST/raw``; None means ``SCRATCHRNN_DATA``, else
    ``~/.cache/scratchrnn``. Each file is read as ``<name>.gz`` (its md5 checked against
    the original's: a warning when it differs) or, failing that, uncompressed as ``<name>``.
    A file found in neither form is, with ``download=True``, downloaded into
    ``~/.cache/scratchrnn/MNIST/raw`` (md5-verified, then moved into place, so an
    interrupted download leaves nothing behind) and read from there; the data folder itself
    is never written.

    Errors: FileNotFoundError naming the four files and the directory when they are missing
    and not downloaded; ``DataError`` (a ValueError) naming the file and what is wrong when
    one is corrupt (bad gzip, truncated, wrong magic, dimensions or length).
    """
    root = os.path.abspath(os.path.expanduser(os.fspath(data_dir))) if data_dir is not None \
        else (_data_dir_env() or os.path.abspath(os.path.expanduser(CACHE_DIR)))
    raw = os.path.join(root, "MNIST", "raw")
    prefix = "train" if train else "t10k"
    wanted = [(gz, md5) for gz, md5 in MNIST_FILES if gz.startswith(prefix)]   # images, labels
    paths = [_find(raw, gz) for gz, _ in wanted]
    if None in paths:
        if not download:
            raise FileNotFoundError(_missing_message(raw, "download=False"))
        cache_raw = os.path.join(os.path.expanduser(CACHE_DIR), "MNIST", "raw")
        paths = [p or _find(cache_raw, gz) or _download(gz, md5, cache_raw, raw)
                 for p, (gz, md5) in zip(paths, wanted)]
    images = _read_idx(paths[0], wanted[0][1], _IMAGES, "images")        # (M, 28, 28) uint8
    labels = _read_idx(paths[1], wanted[1][1], _LABELS, "labels")        # (M,) uint8
    if images.shape[1:] != (28, 28):
        raise DataError(f"{paths[0]}: expected images of 28 x 28 pixels, got dimensions "
                        f"{images.shape}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{paths[1]} holds {labels.shape[0]} labels but {paths[0]} holds "
                        f"{images.shape[0]} images: expected one label per image")
    if labels.size and labels.max() > 9:
        raise DataError(f"{paths[1]}: expected labels 0..9, got {int(labels.max())}")
    return images.astype(np.float32) / np.float32(255), labels.astype(np.int64)


def _find(raw, gz):
    """``raw/<gz>``, else the uncompressed ``raw/<name>``, else None."""
    for name in (gz, gz[:-3]):
        path = os.path.join(raw, name)
        if os.path.isfile(path):
            return path
    return None


def _read_idx(path, md5, magic, what):
    """The IDX array in ``path`` (gzip when it ends in .gz), every part of it checked."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot be read: {e.strerror or e}") from None
    if path.endswith(".gz"):
        if hashlib.md5(blob).hexdigest() != md5:
            warnings.warn(f"{path} does not match the md5 of the original MNIST file; "
                          f"loading it anyway", stacklevel=3)
        try:
            blob = gzip.decompress(blob)
        except EOFError:
            raise DataError(f"{path}: truncated: expected a complete gzip stream, got one that ends "
                            f"before its end marker") from None
        except (gzip.BadGzipFile, zlib.error) as e:
            raise DataError(f"{path}: not a valid gzip file ({e})") from None
    ndim = 3 if magic == _IMAGES else 1
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise DataError(f"{path}: too short: expected at least the {header}-byte IDX header of "
                        f"MNIST {what}, got {len(blob)} bytes")
    got = int.from_bytes(blob[:4], "big")
    if got != magic:
        raise DataError(f"{path}: IDX magic number {got} (0x{got:08x}), expected {magic} "
                        f"(0x{magic:08x}, MNIST {what}: unsigned bytes, {ndim}-D)")
    dims = tuple(int(d) for d in np.frombuffer(blob, ">i4", ndim, 4))
    expected = int(np.prod(dims, dtype=np.int64))
    if len(blob) - header != expected:
        raise DataError(f"{path}: the header gives dimensions {dims}, so expected {expected} bytes "
                        f"of {what} after it, got {len(blob) - header}")
    return np.frombuffer(blob, np.uint8, expected, header).reshape(dims)


def _download(gz, md5, cache_raw, raw):
    """Fetch ``gz`` into ``cache_raw`` from the first mirror that serves the right bytes."""
    os.makedirs(cache_raw, exist_ok=True)
    dest = os.path.join(cache_raw, gz)
    part = f"{dest}.{os.getpid()}.part"
    errors = []
    for base in MIRRORS:
        try:
            with urllib.request.urlopen(base + gz, timeout=60) as r:
                blob = r.read()
            if hashlib.md5(blob).hexdigest() != md5:
                raise ValueError("the file's md5 differs from the original's")
            with open(part, "wb") as f:
                f.write(blob)
            os.replace(part, dest)
            return dest
        except (OSError, ValueError) as e:       # URLError and timeouts are OSErrors
            errors.append(f"{base}{gz}: {e}")
        finally:
            if os.path.exists(part):
                os.unlink(part)
    raise FileNotFoundError(_missing_message(raw, "download failed: " + "; ".join(errors)))


def _missing_message(raw, err):
    files = "\n".join(f"  {gz}" for gz, _ in MNIST_FILES)
    return (f"MNIST not found and not downloaded. Put these four files (the originals, from "
            f"http://yann.lecun.com/exdb/mnist/ or a torchvision mirror) in the directory\n"
            f"  {raw}\n{files}\n"
            f"or select another data root (the directory that holds MNIST/raw) with --data-dir "
            f"or the {DATA_ENV} environment variable." + (f"\nCause: {err}" if err else ""))
