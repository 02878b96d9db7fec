"""scratchrnn.apps.data: corpus, vocabulary, d2l samplers, MNIST through torchvision, sine segments.

Every test makes its own tiny data under ``tmp_path``; only ``test_shared_data``
reads the real files, from ``SCRATCHRNN_DATA``, and skips when that is unset.
"""

import doctest
import gzip
import json
import os
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from scratchrnn.apps import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_docstring_examples():
    result = doctest.testmod(data, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------- corpus

def test_load_corpus_txt_replaces_newlines_and_truncates(tmp_path):
    p = tmp_path / "lyrics.txt"
    p.write_bytes("想要有直升机\n想要和你飞\r\nabc".encode("utf-8"))
    assert data.load_corpus(p) == "想要有直升机 想要和你飞  abc"
    assert data.load_corpus(str(p), max_chars=8) == "想要有直升机 想"


def test_load_corpus_zip_reads_first_txt_in_sorted_order(tmp_path):
    p = tmp_path / "corpus.txt.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("README.md", "not this")
        z.writestr("b.txt", "second")
        z.writestr("a.txt", "周杰伦\n歌词".encode("utf-8"))
    assert data.load_corpus(p) == "周杰伦 歌词"
    assert data.load_corpus(p, max_chars=2) == "周杰"


def test_load_corpus_errors(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        data.load_corpus(missing)
    csv = tmp_path / "corpus.csv"
    csv.write_text("a,b")
    with pytest.raises(ValueError, match=r"'\.csv'"):
        data.load_corpus(csv)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        data.load_corpus(empty)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        data.load_corpus(latin1)
    no_txt = tmp_path / "no_txt.zip"
    with zipfile.ZipFile(no_txt, "w") as z:
        z.writestr("data.csv", "x")
    with pytest.raises(ValueError, match=r"\.txt"):
        data.load_corpus(no_txt)
    with pytest.raises(ValueError, match="max_chars"):
        data.load_corpus(None, max_chars=0)


def test_data_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("SCRATCHRNN_DATA", raising=False)
    assert data.data_dir() is None and data.default_lyrics_path() is None
    monkeypatch.setenv("SCRATCHRNN_DATA", str(tmp_path))
    assert data.data_dir() == str(tmp_path)
    assert data.default_lyrics_path() == os.path.join(str(tmp_path), "jaychou_lyrics.txt.zip")


# A fresh interpreter per hash seed: the vocabulary must not follow set order, the
# default corpus must not print the Zen, and importing scratchrnn.apps.data must not import torch.
_CHILD = """
import json, sys
from scratchrnn.apps import data
text = data.load_corpus() + "周杰伦的歌词很好听"
print(json.dumps({"chars": data.Vocab.from_text(text).chars, "set_order": list(set(text)),
                  "torch": "torch" in sys.modules, "n": len(text)}))
"""


def test_vocab_independent_of_hash_seed_and_import_is_torch_free():
    outs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True, timeout=60)
        outs.append(json.loads(proc.stdout))           # stdout is the JSON line only: no Zen printed
    a, b = outs
    assert a["chars"] == b["chars"] == sorted(a["chars"])
    assert not a["torch"] and not b["torch"]
    assert a["n"] == b["n"] and " " in a["chars"] and "\n" not in a["chars"]


# ---------------------------------------------------------------- vocabulary

def test_vocab_round_trip_and_npz(tmp_path):
    text = "我每天每天在想 hello, 世界!"
    v = data.Vocab.from_text(text)
    assert v.chars == sorted(set(text)) and len(v) == len(set(text))
    idx = v.encode(text)
    assert idx.dtype == np.int64 and idx.shape == (len(text),)
    assert v.decode(idx) == text and v.decode(idx.tolist()) == text
    assert v.encode("").shape == (0,) and v.decode([]) == ""
    a = v.to_array()
    assert a.dtype == np.uint32 and a.shape == (len(v),)
    np.savez(tmp_path / "ckpt.npz", vocab=a)
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as f:
        assert data.Vocab.from_array(f["vocab"]) == v


def test_vocab_errors():
    v = data.Vocab.from_text("abc你")
    with pytest.raises(ValueError, match=r"'z' at position 2"):
        v.encode("abzc")
    with pytest.raises(ValueError, match=r"index 4 at position 1 .* 4 characters"):
        v.decode([0, 4])
    with pytest.raises(ValueError, match="index -1"):
        v.decode(np.array([-1]))
    with pytest.raises(ValueError):
        data.Vocab.from_text("")
    with pytest.raises(ValueError, match="sorted"):
        data.Vocab.from_array(np.array([98, 97], dtype=np.uint32))


# ---------------------------------------------------------------- samplers

class _FixedPermutation:
    """Stands in for the Generator so the expected batches can be written by hand."""

    def __init__(self, perm):
        self.perm = np.array(perm)

    def permutation(self, n):
        assert n == len(self.perm)
        return self.perm


def test_random_batches_exact():
    # d2l's example: corpus 0..29, batch_size 2, num_steps 6 -> 29 // 6 = 4 windows
    # at 0, 6, 12, 18; 4 // 2 = 2 batches; window order [2, 0, 3, 1].
    got = list(data.random_batches(np.arange(30), 2, 6, _FixedPermutation([2, 0, 3, 1])))
    expected = [
        ([[12, 13, 14, 15, 16, 17], [0, 1, 2, 3, 4, 5]],
         [[13, 14, 15, 16, 17, 18], [1, 2, 3, 4, 5, 6]]),
        ([[18, 19, 20, 21, 22, 23], [6, 7, 8, 9, 10, 11]],
         [[19, 20, 21, 22, 23, 24], [7, 8, 9, 10, 11, 12]]),
    ]
    assert len(got) == len(expected)
    for (X, Y), (eX, eY) in zip(got, expected):
        assert X.dtype == Y.dtype == np.int64 and X.shape == Y.shape == (2, 6)
        np.testing.assert_array_equal(X, eX)
        np.testing.assert_array_equal(Y, eY)
    # a real Generator gives the windows in the order of its own permutation
    perm = np.random.default_rng(7).permutation(4)
    for (X, _), (fX, _) in zip(data.random_batches(np.arange(30), 2, 6, np.random.default_rng(7)),
                               data.random_batches(np.arange(30), 2, 6, _FixedPermutation(perm))):
        np.testing.assert_array_equal(X, fX)


def test_consecutive_batches_exact():
    # batch_len = 30 // 2 = 15, rows 0..14 and 15..29; (15 - 1) // 6 = 2 batches.
    got = list(data.consecutive_batches(list(range(30)), 2, 6))
    expected = [
        ([[0, 1, 2, 3, 4, 5], [15, 16, 17, 18, 19, 20]],
         [[1, 2, 3, 4, 5, 6], [16, 17, 18, 19, 20, 21]]),
        ([[6, 7, 8, 9, 10, 11], [21, 22, 23, 24, 25, 26]],
         [[7, 8, 9, 10, 11, 12], [22, 23, 24, 25, 26, 27]]),
    ]
    assert len(got) == len(expected)
    for (X, Y), (eX, eY) in zip(got, expected):
        assert X.dtype == Y.dtype == np.int64 and X.shape == Y.shape == (2, 6)
        np.testing.assert_array_equal(X, eX)
        np.testing.assert_array_equal(Y, eY)


def test_random_batches_cover_each_window_at_most_once():
    n, B, T = 100, 3, 5
    corpus = np.arange(n)
    batches = list(data.random_batches(corpus, B, T, np.random.default_rng(0)))
    assert len(batches) == ((n - 1) // T) // B == 6
    starts = np.concatenate([X[:, 0] for X, _ in batches])
    assert len(np.unique(starts)) == len(starts) == 6 * B           # no window twice
    assert np.all(starts % T == 0) and starts.max() + T < n          # window grid, Y in range
    for X, Y in batches:
        assert X.shape == Y.shape == (B, T)
        np.testing.assert_array_equal(Y, X + 1)
        np.testing.assert_array_equal(X, X[:, :1] + np.arange(T))


def test_consecutive_batches_rows_continue_across_batches():
    n, B, T = 103, 4, 5
    batches = list(data.consecutive_batches(np.arange(n), B, T))
    batch_len = n // B
    assert len(batches) == (batch_len - 1) // T == 4
    np.testing.assert_array_equal(batches[0][0][:, 0], np.arange(B) * batch_len)
    for (X, Y), (X_next, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(X_next[:, 0], X[:, -1] + 1)   # row r picks up where it left off
        np.testing.assert_array_equal(X_next[:, 0], Y[:, -1])
    for X, Y in batches:
        np.testing.assert_array_equal(Y, X + 1)


@pytest.mark.parametrize("n,B,T", [(13, 2, 6), (14, 2, 6), (30, 2, 6), (31, 3, 4), (1000, 7, 9), (20, 1, 19)])
def test_num_batches_matches_what_is_yielded(n, B, T):
    corpus = np.arange(n)
    for sampler, batches in [("random", lambda: data.random_batches(corpus, B, T, np.random.default_rng(1))),
                             ("consecutive", lambda: data.consecutive_batches(corpus, B, T))]:
        try:
            expected = data.num_batches(n, B, T, sampler)
        except ValueError:
            with pytest.raises(ValueError):
                batches()
            continue
        assert len(list(batches())) == expected
        assert data.num_batches(n, B, T, getattr(data, f"{sampler}_batches")) == expected


def test_sampler_argument_errors():
    rng = np.random.default_rng(0)
    corpus = np.arange(12)
    # raised when the sampler is called, not at the first next()
    with pytest.raises(ValueError, match="needs at least 13 characters, got 12"):
        data.random_batches(corpus, 2, 6, rng)
    with pytest.raises(ValueError, match="needs at least 14 characters, got 12"):
        data.consecutive_batches(corpus, 2, 6)
    for bad in (0, -1, 2.5, True, "2"):
        with pytest.raises(ValueError, match="batch_size"):
            data.consecutive_batches(np.arange(100), bad, 2)
        with pytest.raises(ValueError, match="num_steps"):
            data.num_batches(100, 2, bad, "random")
    with pytest.raises(ValueError, match="sampler"):
        data.num_batches(100, 2, 2, "sequential")
    with pytest.raises(ValueError, match="1-D integer"):
        data.consecutive_batches(np.zeros((4, 25), dtype=np.int64), 2, 2)
    with pytest.raises(TypeError, match="Generator"):
        data.random_batches(np.arange(100), 2, 2, None)


# ---------------------------------------------------------------- sine

def test_sine_segments_follow_the_tutorial():
    segs = list(data.sine_segments(3, 10))
    assert len(segs) == 3
    for k, (x, y) in enumerate(segs):
        t = np.linspace(k * np.pi, (k + 1) * np.pi, 10, dtype=np.float32, endpoint=False)
        assert x.shape == y.shape == (10, 1, 1) and x.dtype == y.dtype == np.float32   # (T, N, I)
        np.testing.assert_array_equal(x[:, 0, 0], np.sin(t))
        np.testing.assert_array_equal(y[:, 0, 0], np.cos(t))
    # the segments tile one time axis: concatenated, they are one sampled sine
    x_all = np.concatenate([x for x, _ in segs])[:, 0, 0]
    np.testing.assert_allclose(x_all, np.sin(np.arange(30) * np.pi / 10), atol=1e-6)
    # the tutorial's first version: both ends included
    x1, _ = next(iter(data.sine_segments(2, 5, endpoint=True, start=1.0)))
    np.testing.assert_array_equal(x1[:, 0, 0], np.sin(np.linspace(1.0, 1.0 + np.pi, 5, dtype=np.float32)))
    with pytest.raises(ValueError, match="num_segments"):
        data.sine_segments(0, 10)


# ---------------------------------------------------------------- MNIST

TRAIN_N, TEST_N = 5, 3


def _write_idx_gz(path, array):
    """IDX as in the MNIST files: magic 2051 (uint8, 3 dims) / 2049 (uint8, 1 dim),
    then each dimension as a big-endian int32, then the bytes."""
    magic = 2051 if array.ndim == 3 else 2049
    header = struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _make_tiny_mnist(root, seed=0):
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", TRAIN_N), ("t10k", TEST_N)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        _write_idx_gz(raw / f"{split}-images-idx3-ubyte.gz", images)
        _write_idx_gz(raw / f"{split}-labels-idx1-ubyte.gz", labels)
        arrays[split] = (images, labels)
    return raw, arrays


@pytest.fixture
def torchvision_home(monkeypatch, tmp_path):
    """torchvision available, and ``~`` (hence the mirror) inside tmp_path."""
    pytest.importorskip("torchvision")
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


def test_load_mnist_tiny_files_in_a_writable_directory(torchvision_home, tmp_path):
    raw, arrays = _make_tiny_mnist(tmp_path / "data")
    # tiny files cannot match the md5s of the real ones: they load, with a warning,
    # and without a download (torchvision would try one for a wrong md5)
    with pytest.warns(UserWarning, match="md5"):
        images, labels = data.load_mnist(tmp_path / "data", train=True)
    _check_split(images, labels, arrays["train"])
    assert (raw / "train-images-idx3-ubyte").is_file()     # extracted in place, as torchvision does
    images, labels = data.load_mnist(str(tmp_path / "data"), train=False)   # no second extraction
    _check_split(images, labels, arrays["t10k"])


def test_load_mnist_read_only_directory_uses_the_mirror(torchvision_home, tmp_path, monkeypatch):
    raw, arrays = _make_tiny_mnist(tmp_path / "ro")
    before = sorted(os.listdir(raw))
    os.chmod(raw, 0o555)
    try:
        if os.geteuid() == 0:
            # root may write anyway; data._is_writable must still honour the mode bits
            assert not data.mnist._is_writable(str(raw))
        with pytest.warns(UserWarning, match="md5"):
            images, labels = data.load_mnist(tmp_path / "ro", train=True)
        _check_split(images, labels, arrays["train"])
        assert sorted(os.listdir(raw)) == before                   # nothing written to the source
        mirror = torchvision_home / ".cache" / "scratchrnn" / "mnist-mirror" / "MNIST" / "raw"
        assert (mirror / "t10k-images-idx3-ubyte").is_file()
        assert os.path.islink(mirror / "t10k-images-idx3-ubyte.gz")
        # another read-only source replaces the mirror's content (its stamp differs)
        raw2, arrays2 = _make_tiny_mnist(tmp_path / "ro2", seed=1)
        os.chmod(raw2, 0o555)
        monkeypatch.setenv("SCRATCHRNN_DATA", str(tmp_path / "ro2"))
        with pytest.warns(UserWarning, match="md5"):
            images, labels = data.load_mnist(train=False)            # data_dir from the environment
        _check_split(images, labels, arrays2["t10k"])
    finally:
        os.chmod(raw, 0o755)
        if (tmp_path / "ro2" / "MNIST" / "raw").exists():
            os.chmod(tmp_path / "ro2" / "MNIST" / "raw", 0o755)


def test_load_mnist_missing_files_say_what_to_put_where(torchvision_home, tmp_path, monkeypatch):
    import torchvision

    root = tmp_path / "empty"
    root.mkdir()
    raw = os.path.join(str(root), "MNIST", "raw")
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    with pytest.raises(RuntimeError) as info:
        data.load_mnist(root, download=False)
    msg = str(info.value)
    assert all(n in msg for n in names) and raw in msg
    assert "--data-dir" in msg and "SCRATCHRNN_DATA" in msg

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)   # never touch the network
    with pytest.raises(RuntimeError, match="no network") as info:
        data.load_mnist(root, train=False)
    assert all(n in str(info.value) for n in names) and raw in str(info.value)


# ---------------------------------------------------------------- the real files

def test_shared_data(monkeypatch, tmp_path):
    root = os.environ.get("SCRATCHRNN_DATA")
    if not root:
        pytest.skip("SCRATCHRNN_DATA is unset: point it at the shared data directory (the one "
                    "holding jaychou_lyrics.txt.zip and MNIST/raw) to check the real corpus and MNIST")
    pytest.importorskip("torchvision")
    monkeypatch.setenv("HOME", str(tmp_path))       # the mirror of a read-only MNIST/raw goes here
    text = data.load_corpus(os.path.join(root, "jaychou_lyrics.txt.zip"), max_chars=10_000)
    assert len(text) == 10_000
    assert len(data.Vocab.from_text(text)) == 1027            # DESIGN.md, with '\n' -> ' '
    listing = sorted(os.listdir(os.path.join(root, "MNIST", "raw")))
    images, labels = data.load_mnist(root, train=True)
    assert images.shape == (60000, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(labels[:5], [5, 0, 4, 1, 9])
    images, labels = data.load_mnist(root, train=False)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert sorted(np.unique(labels)) == list(range(10))
    assert sorted(os.listdir(os.path.join(root, "MNIST", "raw"))) == listing   # shared dir untouched

