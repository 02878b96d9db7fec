"""scratchrnn.apps.data.load_mnist: the IDX files read with NumPy, checked, and never written.

Every test makes tiny IDX files under ``tmp_path`` and points ``HOME`` (hence the download
cache) there too, then asserts that no file appeared anywhere: not beside the data, not in
the cache. ``test_shared_mnist`` reads the real files from ``SCRATCHRNN_DATA`` and skips
when that is unset.
"""

import contextlib
import gzip
import hashlib
import io
import os
import struct
import urllib.error

import numpy as np
import pytest

from scratchrnn.apps import data
from scratchrnn.apps.data import mnist as mnist_module

TRAIN_N, TEST_N = 5, 3
NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def _idx_bytes(array, magic=None, dims=None):
    """IDX as in the MNIST files: magic 2051 (uint8, 3 dims) / 2049 (uint8, 1 dim), then each
    dimension as a big-endian int32, then the bytes. ``magic``/``dims`` override the header."""
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    dims = dims if dims is not None else array.shape
    return struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in dims) + \
        array.astype(np.uint8).tobytes()


def make_tiny_mnist(root, seed=0, compress=True):
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", TRAIN_N), ("t10k", TEST_N)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for kind, a in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{split}-{kind}-ubyte"
            if compress:
                (raw / (name + ".gz")).write_bytes(gzip.compress(_idx_bytes(a)))
            else:
                (raw / name).write_bytes(_idx_bytes(a))
        arrays[split] = (images, labels)
    return raw, arrays


def _listing(*roots):
    return sorted(os.path.join(d, f) for r in roots for d, _, fs in os.walk(r) for f in fs)


@pytest.fixture
def home(monkeypatch, tmp_path):
    """``~`` (hence ~/.cache/scratchrnn) inside tmp_path, SCRATCHRNN_DATA unset."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SCRATCHRNN_DATA", raising=False)
    return home


def _check_split(images, labels, expected):
    e_images, e_labels = expected
    assert images.dtype == np.float32 and images.shape == e_images.shape
    assert labels.dtype == np.int64 and labels.shape == e_labels.shape
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(images, e_images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(labels, e_labels)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "uncompressed"])
def test_load_mnist_reads_both_splits_and_writes_nothing(home, tmp_path, monkeypatch, compress):
    raw, arrays = make_tiny_mnist(tmp_path / "data", compress=compress)
    before = _listing(tmp_path)
    if compress:   # tiny files cannot match the md5s of the real ones: they load, with a warning
        with pytest.warns(UserWarning, match="md5"):
            images, labels = data.load_mnist(tmp_path / "data", train=True)
    else:
        images, labels = data.load_mnist(tmp_path / "data", train=True)
    _check_split(images, labels, arrays["train"])
    monkeypatch.setenv("SCRATCHRNN_DATA", str(tmp_path / "data"))           # data_dir from the environment
    with pytest.warns(UserWarning, match="md5") if compress else contextlib.nullcontext():
        images, labels = data.load_mnist(train=False, download=False)
    _check_split(images, labels, arrays["t10k"])
    assert _listing(tmp_path) == before            # nothing extracted, cached or left behind


def _corrupt(raw, name, blob):
    (raw / name).write_bytes(blob)


def _gz(b):
    return gzip.compress(b)


_IMG = np.zeros((TRAIN_N, 28, 28), np.uint8)
_LAB = np.zeros(TRAIN_N, np.uint8)
CORRUPT = [   # (file, its bytes, words the message must hold)
    ("train-images-idx3-ubyte.gz", _gz(_idx_bytes(_IMG))[:-20], ["truncated", "expected a complete gzip stream"]),
    ("train-images-idx3-ubyte.gz", _idx_bytes(_IMG), ["not a valid gzip file"]),
    ("train-images-idx3-ubyte.gz", _gz(_idx_bytes(_IMG))[:-8] + b"\0" * 8, ["not a valid gzip file", "CRC"]),
    ("train-images-idx3-ubyte.gz", _gz(_idx_bytes(_IMG, magic=2049)), ["magic number 2049", "expected 2051"]),
    ("train-images-idx3-ubyte.gz", _gz(_idx_bytes(_IMG)[:-1]), ["dimensions (5, 28, 28)",
                                                                "expected 3920 bytes", "got 3919"]),
    ("train-images-idx3-ubyte.gz", _gz(_idx_bytes(_IMG) + b"\0"), ["got 3921"]),
    ("train-images-idx3-ubyte.gz", _gz(b"\0\0\x08"), ["too short", "16-byte IDX header", "got 3 bytes"]),
    ("train-images-idx3-ubyte.gz", _gz(_idx_bytes(np.zeros((TRAIN_N, 28, 27), np.uint8))),
     ["28 x 28", "(5, 28, 27)"]),
    ("train-labels-idx1-ubyte.gz", _gz(_idx_bytes(np.zeros(4, np.uint8))), ["4 labels", "5 images"]),
    ("train-labels-idx1-ubyte.gz", _gz(_idx_bytes(np.array([0, 1, 2, 10, 3], np.uint8))),
     ["labels 0..9", "got 10"]),
    ("train-labels-idx1-ubyte.gz", _gz(_idx_bytes(_LAB, dims=(2**31 - 1,))), ["expected 2147483647 bytes", "got 5"]),
    ("train-labels-idx1-ubyte", _idx_bytes(_LAB, magic=2051), ["magic number 2051"]),
]


@pytest.mark.parametrize("name, blob, words", CORRUPT, ids=[f"{i}-{c[2][0][:18]}" for i, c in enumerate(CORRUPT)])
def test_corrupt_file_names_the_file_and_the_fault(home, tmp_path, name, blob, words):
    raw, _ = make_tiny_mnist(tmp_path / "data")
    if not name.endswith(".gz"):                    # the uncompressed form is read when the .gz is absent
        os.remove(raw / (name + ".gz"))
    _corrupt(raw, name, blob)
    before = _listing(tmp_path)
    with pytest.warns(UserWarning, match="md5"):      # tiny .gz files all differ from the originals
        with pytest.raises(data.DataError) as info:
            data.load_mnist(tmp_path / "data", train=True, download=False)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)       # the CLI reports it as one error: line
    assert str(raw / name) in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert _listing(tmp_path) == before             # no .part, no extracted file


def test_missing_files_say_what_to_put_where(home, tmp_path, monkeypatch):
    root = tmp_path / "empty"
    root.mkdir()
    raw = os.path.join(str(root), "MNIST", "raw")
    with pytest.raises(FileNotFoundError) as info:
        data.load_mnist(root, download=False)
    msg = str(info.value)
    assert all(n in msg for n in NAMES) and raw in msg
    assert "--data-dir" in msg and "SCRATCHRNN_DATA" in msg and "download=False" in msg

    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(mnist_module.urllib.request, "urlopen", offline)   # never touch the network
    with pytest.raises(FileNotFoundError, match="no network") as info:
        data.load_mnist(root, train=False)
    assert all(n in str(info.value) for n in NAMES) and raw in str(info.value)
    assert _listing(tmp_path) == []                 # no .part files, nothing in the cache


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_lands_in_the_cache_verified(home, tmp_path, monkeypatch):
    src, arrays = make_tiny_mnist(tmp_path / "served")
    served = {n: (src / n).read_bytes() for n in NAMES}
    monkeypatch.setattr(mnist_module, "MNIST_FILES",
                        tuple((n, hashlib.md5(served[n]).hexdigest()) for n in NAMES))
    asked = []

    def fake_urlopen(url, timeout):
        asked.append(url)
        if url.startswith(mnist_module.MIRRORS[0]):
            if url.endswith("t10k-labels-idx1-ubyte.gz"):
                return _Response(b"corrupted on the way")      # wrong md5: the next mirror is tried
            raise urllib.error.URLError("mirror down")
        return _Response(served[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(mnist_module.urllib.request, "urlopen", fake_urlopen)
    user = tmp_path / "user"
    user.mkdir()
    images, labels = data.load_mnist(user, train=False)
    _check_split(images, labels, arrays["t10k"])
    assert len(asked) == 4                                     # two files, two mirrors each
    cache = home / ".cache" / "scratchrnn" / "MNIST" / "raw"
    assert sorted(os.listdir(cache)) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert os.listdir(user) == []                               # the user's folder is never written
    asked.clear()
    data.load_mnist(user, train=False)                          # read from the cache, no download
    assert asked == []

    def always_wrong(url, timeout):
        return _Response(b"not mnist")

    monkeypatch.setattr(mnist_module.urllib.request, "urlopen", always_wrong)
    with pytest.raises(FileNotFoundError, match="md5"):
        data.load_mnist(user, train=True)
    assert sorted(os.listdir(cache)) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_shared_mnist(monkeypatch, tmp_path):
    root = os.environ.get("SCRATCHRNN_DATA")
    if not root:
        pytest.skip("SCRATCHRNN_DATA is unset: point it at the shared data directory (the one "
                    "holding MNIST/raw) to check the real MNIST files")
    monkeypatch.setenv("HOME", str(tmp_path))
    listing = _listing(os.path.join(root, "MNIST"))
    images, labels = data.load_mnist(root, train=True)
    assert images.shape == (60000, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(labels[:5], [5, 0, 4, 1, 9])
    images, labels = data.load_mnist(root, train=False)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert sorted(np.unique(labels)) == list(range(10))
    assert _listing(os.path.join(root, "MNIST")) == listing     # the data folder untouched,
    assert _listing(tmp_path) == []                            # and nothing cached
