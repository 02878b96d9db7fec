"""scratchrnn.apps.data: corpus (corrupt archives included), vocabulary, d2l samplers, sine segments.

Every test makes its own tiny data under ``tmp_path``; ``test_shared_corpus`` reads the
real lyrics, from ``SCRATCHRNN_DATA``, and skips when that is unset. MNIST: test_data_mnist.py.
"""

import doctest
import json
import os
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


def _zip_with(tmp_path, name, payload, compression):
    p = tmp_path / name
    with zipfile.ZipFile(p, "w", compression) as z:
        z.writestr("lyrics.txt", payload)
    return p


def _damage(path, needle_or_offset):
    """Flip one byte of ``path``: at the first occurrence of a bytes needle, or at an offset."""
    blob = bytearray(path.read_bytes())
    at = blob.index(needle_or_offset) if isinstance(needle_or_offset, bytes) else needle_or_offset
    blob[at] ^= 0xFF
    path.write_bytes(bytes(blob))


def test_load_corpus_corrupt_archives_name_the_file_and_the_fault(tmp_path):
    text = ("想要有直升机 想要和你飞到宇宙去 " * 40).encode("utf-8")
    cases = []
    p = _zip_with(tmp_path, "crc.zip", text, zipfile.ZIP_STORED)      # a stored member, one byte flipped
    _damage(p, text[100:120])
    cases.append((p, "CRC"))
    p = _zip_with(tmp_path, "deflate.zip", text, zipfile.ZIP_DEFLATED)  # damaged compressed stream
    _damage(p, 60)
    cases.append((p, "lyrics.txt cannot be read"))
    p = _zip_with(tmp_path, "truncated.zip", text, zipfile.ZIP_DEFLATED)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])         # the central directory is gone
    cases.append((p, "not a valid zip archive"))
    p = tmp_path / "text.zip"
    p.write_bytes(b"just some text, not an archive")
    cases.append((p, "not a valid zip archive"))
    for path, fault in cases:
        with pytest.raises(data.DataError) as info:
            data.load_corpus(path)
        msg = str(info.value)
        assert str(path) in msg and fault in msg, msg
        assert isinstance(info.value, ValueError)                   # the CLI's one error: line
    listing = sorted(os.listdir(tmp_path))
    assert listing == sorted(os.path.basename(p) for p, _ in cases)   # nothing written beside them


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


def test_shared_corpus():
    root = os.environ.get("SCRATCHRNN_DATA")
    if not root:
        pytest.skip("SCRATCHRNN_DATA is unset: point it at the shared data directory (the one "
                    "holding jaychou_lyrics.txt.zip) to check the real corpus")
    text = data.load_corpus(os.path.join(root, "jaychou_lyrics.txt.zip"), max_chars=10_000)
    assert len(text) == 10_000
    assert len(data.Vocab.from_text(text)) == 1027            # the d2l figure, with '\n' -> ' '
