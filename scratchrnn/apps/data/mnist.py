"""MNIST as arrays, read from the four original gzip files (through torchvision, imported lazily)."""

import gzip
import hashlib
import json
import os
import shutil
import warnings

import numpy as np

from scratchrnn.apps.data.paths import CACHE_DIR, DATA_ENV, MNIST_FILES, data_dir as _data_dir_env


def _is_writable(path):
    """Whether we may create files in directory ``path``.

    The permission bits are respected even as root: ``os.access`` says yes to root
    for a 0o555 directory, but a data directory marked read-only (like the shared
    one) must stay untouched, so with no write bit set it counts as read-only.
    """
    if not os.access(path, os.W_OK | os.X_OK):
        return False
    return bool(os.stat(path).st_mode & 0o222)


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _extracted_exist(raw):
    # torchvision's MNIST._check_exists: all four *un*compressed files are present
    # (only os.path.isfile, no md5), for either split. If so it never downloads.
    return all(os.path.isfile(os.path.join(raw, gz[:-3])) for gz, _ in MNIST_FILES)


def _gz_exist(raw):
    return all(os.path.isfile(os.path.join(raw, gz)) for gz, _ in MNIST_FILES)


def _source_stamp(src_raw):
    stamp = {"source": os.path.abspath(src_raw)}
    for gz, _ in MNIST_FILES:
        st = os.stat(os.path.join(src_raw, gz))
        stamp[gz] = [st.st_size, st.st_mtime_ns]
    return stamp


def _extract_gz(src_raw, dst_raw):
    """Decompress the four .gz files from ``src_raw`` into ``dst_raw`` (torchvision's
    layout), warning when their md5s differ from the original MNIST files."""
    mismatched = [gz for gz, md5 in MNIST_FILES if _md5(os.path.join(src_raw, gz)) != md5]
    if mismatched:
        warnings.warn(f"MNIST files in {src_raw} do not match the md5 of the original MNIST "
                      f"files: {', '.join(mismatched)}; loading them anyway", stacklevel=3)
    for gz, _ in MNIST_FILES:
        out = os.path.join(dst_raw, gz[:-3])
        tmp = out + ".part"
        with gzip.open(os.path.join(src_raw, gz), "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        os.replace(tmp, out)                                  # never leave a half file behind


def _mirror_root():
    return os.path.join(os.path.expanduser(CACHE_DIR), "mnist-mirror")


def _prepare_mirror(src_raw):
    """A writable copy of torchvision's layout for a read-only ``src_raw``:
    ``~/.cache/scratchrnn/mnist-mirror/MNIST/raw`` with symlinks to the .gz files
    present and, when all four are there, the extracted files. A stamp records which
    source was extracted, so another source (or a changed file) is extracted afresh.
    Returns the mirror root to give torchvision."""
    root = _mirror_root()
    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for gz, _ in MNIST_FILES:
        src, link = os.path.join(src_raw, gz), os.path.join(raw, gz)
        if os.path.lexists(link) and os.path.realpath(link) != os.path.realpath(src):
            os.remove(link)
        if os.path.isfile(src) and not os.path.lexists(link):
            os.symlink(os.path.abspath(src), link)
    if _gz_exist(src_raw):
        stamp_path = os.path.join(raw, "source.json")
        stamp = _source_stamp(src_raw)
        try:
            with open(stamp_path) as f:
                fresh = json.load(f) == stamp and _extracted_exist(raw)
        except (OSError, ValueError):
            fresh = False
        if not fresh:
            _extract_gz(src_raw, raw)
            with open(stamp_path, "w") as f:
                json.dump(stamp, f)
    return root


def _missing_message(raw, err):
    files = "\n".join(f"  {gz}" for gz, _ in MNIST_FILES)
    return (f"MNIST not found and not downloaded. Put these four files (the originals, from "
            f"http://yann.lecun.com/exdb/mnist/ or a torchvision mirror) in the directory\n"
            f"  {raw}\n{files}\n"
            f"or select another data root (the directory that holds MNIST/raw) with --data-dir "
            f"or the {DATA_ENV} environment variable." + (f"\nCause: {err}" if err else ""))


def load_mnist(data_dir=None, train=True, download=True):
    """MNIST as arrays: ``images`` float32 (M, 28, 28) in [0, 1] (``uint8 / 255``, the
    same values as torchvision's ``ToTensor``) and ``labels`` int64 (M,), read through
    ``torchvision.datasets.MNIST`` (imported here, not at module import).

    ``data_dir`` is the root that holds ``MNIST/raw``; None means ``SCRATCHRNN_DATA``,
    else ``~/.cache/scratchrnn``. How the files are used:

    - the four extracted files already in ``MNIST/raw``: read as they are;
    - the four ``.gz`` files: extracted (md5 checked against the originals, a warning
      if they differ) into ``MNIST/raw`` when it is writable, else into the mirror
      ``~/.cache/scratchrnn/mnist-mirror/MNIST/raw``, then read with
      ``download=False``, so no network is touched;
    - otherwise, with ``download=True``, torchvision downloads the missing files
      (into ``MNIST/raw``, or the mirror when that is read-only).

    RuntimeError, naming the four files and the directory, when none of that works.
    """
    root = os.path.abspath(os.path.expanduser(os.fspath(data_dir))) if data_dir is not None \
        else (_data_dir_env() or os.path.abspath(os.path.expanduser(CACHE_DIR)))
    raw = os.path.join(root, "MNIST", "raw")
    from torchvision.datasets import MNIST   # lazy: torch is optional for the rest of scratchrnn

    tv_root, need_download = root, False
    if _extracted_exist(raw):
        pass
    elif os.path.isdir(raw) and not _is_writable(raw):
        try:
            tv_root = _prepare_mirror(raw)
        except OSError as e:
            raise RuntimeError(f"{raw} is read-only and the writable mirror under {_mirror_root()} "
                               f"could not be prepared: {e}") from e
        need_download = not _gz_exist(raw)
    elif _gz_exist(raw):
        _extract_gz(raw, raw)
    else:
        need_download = True
    if need_download and not download:
        raise RuntimeError(_missing_message(raw, "download=False"))
    try:
        if need_download:
            os.makedirs(os.path.join(tv_root, "MNIST", "raw"), exist_ok=True)
        ds = MNIST(tv_root, train=bool(train), download=need_download)
    except Exception as e:     # noqa: BLE001  (URLError, RuntimeError, OSError from torchvision)
        raise RuntimeError(_missing_message(raw, f"{type(e).__name__}: {e}")) from e
    images = ds.data.numpy().astype(np.float32) / np.float32(255)    # (M, 28, 28) in [0, 1]
    labels = ds.targets.numpy().astype(np.int64)                     # (M,)
    return images, labels
