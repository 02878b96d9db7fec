"""The character corpus, its vocabulary, and the two d2l batch samplers (random, consecutive)."""

import codecs
import contextlib
import io
import os
import zipfile
import zlib

import numpy as np

from scratchrnn import checks
from scratchrnn.apps.data.paths import DataError


def _zen_of_python():
    import this  # noqa: F401  (prints the Zen on first import; the redirect below swallows it)
    return codecs.decode(this.s, "rot13")


def load_corpus(path=None, max_chars=None):
    """Read a character corpus as one string.

    ``path`` None gives the built-in corpus, "The Zen of Python" (``this.s`` from the
    standard library, rot13-decoded), so the char LM runs on a fresh machine with no
    data. Otherwise ``path`` is a UTF-8 ``.txt`` file or a ``.zip`` archive whose
    ``.txt`` member is read (the first in sorted order when there are several).

    Like the classic d2l char-RNN tutorial on the Jay Chou lyrics, every ``'\\n'``
    and ``'\\r'`` becomes a space ``' '`` (so lines run on, and the 10,000-character
    lyrics prefix has 1,027 distinct characters). ``max_chars`` then keeps the first
    ``max_chars`` characters.

    Errors: FileNotFoundError (missing file); ``DataError``, a ValueError naming the file
    and what is wrong (not a zip archive, a member that fails its CRC or cannot be
    decompressed, a zip without a ``.txt`` member, text that is not UTF-8, an unreadable
    file); ValueError (unsupported extension, an empty corpus).
    """
    if max_chars is not None:
        max_chars = checks.positive_int("max_chars", max_chars)
    if path is None:
        with contextlib.redirect_stdout(io.StringIO()):
            text = _zen_of_python()
        source = "the built-in corpus (The Zen of Python)"
    else:
        path = os.fspath(path)
        source = path
        if not os.path.isfile(path):
            raise FileNotFoundError(f"corpus file not found: {path}")
        ext = os.path.splitext(path)[1].lower()
        if ext == ".txt":
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except OSError as e:
                raise DataError(f"{path}: cannot be read: {e.strerror or e}") from None
        elif ext == ".zip":
            raw, source = _read_zip_txt(path)
        else:
            raise ValueError(f"unsupported corpus file extension {ext or '(none)'!r} for {path}: "
                             f"expected .txt or .zip")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{source} is not valid UTF-8: {e}") from None
    text = text.replace("\n", " ").replace("\r", " ")       # as the d2l tutorial does
    if max_chars is not None:
        text = text[:max_chars]
    if not text:
        raise ValueError(f"the corpus from {source} is empty")
    return text


def _read_zip_txt(path):
    """(bytes, "path:member") of the first ``.txt`` member of the zip archive ``path``."""
    try:
        with zipfile.ZipFile(path) as z:
            members = sorted(n for n in z.namelist() if n.lower().endswith(".txt"))
            if not members:
                raise DataError(f"expected a .txt file inside {path}, found {sorted(z.namelist())}")
            try:
                return z.read(members[0]), f"{path}:{members[0]}"
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
                # a bad CRC-32, a damaged deflate stream, a truncated member, an unsupported
                # compression method or an encrypted member
                raise DataError(f"{path}: member {members[0]} cannot be read: {e}") from None
    except (zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a valid zip archive ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read: {e.strerror or e}") from None


class Vocab:
    """Characters <-> integer indices. Index ``i`` is ``chars[i]``; ``chars`` is sorted
    by code point, so a vocabulary never depends on the hash seed or on text order.

    ``to_array()`` / ``Vocab.from_array(a)`` store it as uint32 code points, so it can
    sit inside an ``.npz`` checkpoint that loads with ``allow_pickle=False``.
    """

    def __init__(self, chars):
        chars = list(chars)
        if not chars:
            raise ValueError("a vocabulary needs at least one character, got none")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("expected single characters as the vocabulary")
        if any(a >= b for a, b in zip(chars, chars[1:])):
            raise ValueError("expected the vocabulary characters sorted and unique")
        self.chars = chars                                              # (V,) index -> char
        self._codes = np.array([ord(c) for c in chars], dtype=np.uint32)  # (V,) sorted code points

    @classmethod
    def from_text(cls, text):
        """The sorted set of characters of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"expected text as str, got {type(text).__name__}")
        if not text:
            raise ValueError("cannot build a vocabulary from empty text")
        return cls(sorted(set(text)))

    @classmethod
    def from_array(cls, a):
        """Inverse of :meth:`to_array`: a 1-D array of sorted, distinct code points."""
        a = np.asarray(a)
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"expected a 1-D integer array of code points, got dtype {a.dtype} "
                             f"and shape {checks.shape_str(a.shape)}")
        if a.size and (a.min() < 0 or a.max() > 0x10FFFF):
            raise ValueError("expected code points in [0, 0x10FFFF]")
        return cls(chr(int(c)) for c in a)

    def to_array(self):
        """The vocabulary as a uint32 array of code points, shape (V,)."""
        return self._codes.copy()

    def __len__(self):
        return len(self.chars)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.chars == other.chars

    def __repr__(self):
        return f"Vocab(size={len(self)})"

    def encode(self, text):
        """``text`` -> int64 indices of shape (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"expected text as str, got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")  # (L,)
        idx = np.searchsorted(self._codes, codes)                                      # (L,)
        idx_clipped = np.minimum(idx, len(self) - 1)
        unknown = self._codes[idx_clipped] != codes
        if unknown.any():
            pos = int(np.flatnonzero(unknown)[0])
            raise ValueError(f"character {text[pos]!r} at position {pos} is not in the vocabulary")
        return idx.astype(np.int64)

    def decode(self, indices):
        """Integer indices (any iterable or 1-D array) -> str."""
        idx = np.asarray(indices)
        if idx.size == 0:
            return ""
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"expected a 1-D sequence of integer indices, got dtype {idx.dtype} "
                             f"and shape {checks.shape_str(idx.shape)}")
        bad = (idx < 0) | (idx >= len(self))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(f"index {int(idx[pos])} at position {pos} is out of range (expected "
                             f"0..{len(self) - 1}) for a vocabulary of {len(self)} characters")
        return "".join(self.chars[i] for i in idx.tolist())


# ---------------------------------------------------------------- samplers (d2l semantics)

def _as_indices(indices):
    idx = np.asarray(indices)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise ValueError(f"expected a 1-D integer array of corpus indices, got dtype {idx.dtype} "
                         f"and shape {checks.shape_str(idx.shape)}")
    return idx.astype(np.int64, copy=False)


_SAMPLERS = ("random", "consecutive")


def _sampler_name(sampler):
    if sampler in (random_batches, consecutive_batches):
        return "random" if sampler is random_batches else "consecutive"
    if sampler not in _SAMPLERS:
        raise ValueError(f"sampler must be 'random' or 'consecutive', got {sampler!r}")
    return sampler


def num_batches(n_indices, batch_size, num_steps, sampler):
    """Batches per epoch that ``sampler`` ('random' or 'consecutive', or the function)
    yields for a corpus of ``n_indices`` characters. ValueError when that is zero,
    saying how many characters one batch needs.

    random: ``((n - 1) // num_steps) // batch_size``;
    consecutive: ``(n // batch_size - 1) // num_steps``.
    """
    name = _sampler_name(sampler)
    if isinstance(n_indices, bool) or not isinstance(n_indices, (int, np.integer)) or n_indices < 0:
        raise ValueError(f"n_indices must be a non-negative integer, got {n_indices!r}")
    n = int(n_indices)
    batch_size = checks.positive_int("batch_size", batch_size)
    num_steps = checks.positive_int("num_steps", num_steps)
    if name == "random":
        epoch_size = ((n - 1) // num_steps) // batch_size
        needed = batch_size * num_steps + 1
    else:
        epoch_size = (n // batch_size - 1) // num_steps
        needed = batch_size * (num_steps + 1)
    if epoch_size < 1:
        raise ValueError(f"corpus too short for one batch: the {name} sampler with batch_size="
                         f"{batch_size}, num_steps={num_steps} needs at least {needed} characters, "
                         f"got {n}")
    return epoch_size


def random_batches(indices, batch_size, num_steps, rng):
    """Shuffled, non-overlapping windows: d2l's ``data_iter_random``.

    The corpus is cut into ``num_examples = (len(indices) - 1) // num_steps`` windows
    starting at ``j * num_steps``; ``perm = rng.permutation(num_examples)`` (``rng`` a
    ``numpy.random.Generator``) orders them, and batch ``i`` takes windows
    ``perm[i*batch_size:(i+1)*batch_size]``, for ``num_examples // batch_size``
    batches. Yields ``(X, Y)`` int64 of shape (N, T) = (batch_size, num_steps) with
    ``X[r] = indices[p:p+T]`` and ``Y[r] = indices[p+1:p+1+T]``. Adjacent batches are
    unrelated, so the training loop starts every batch from a zero state.
    """
    idx = _as_indices(indices)
    epoch_size = num_batches(len(idx), batch_size, num_steps, "random")
    if not hasattr(rng, "permutation"):
        raise TypeError(f"expected rng to be a numpy.random.Generator, got {type(rng).__name__}")
    batch_size, num_steps = int(batch_size), int(num_steps)
    num_examples = (len(idx) - 1) // num_steps
    perm = np.asarray(rng.permutation(num_examples))
    offsets = np.arange(num_steps)                                       # (T,)

    def batches():
        for i in range(epoch_size):
            starts = perm[i * batch_size:(i + 1) * batch_size] * num_steps  # (N,)
            rows = starts[:, None] + offsets                                # (N, T)
            yield idx[rows], idx[rows + 1]                                  # (N, T), (N, T)

    return batches()


def consecutive_batches(indices, batch_size, num_steps):
    """Adjacent windows, one stream per row: d2l's ``data_iter_consecutive``.

    ``batch_len = len(indices) // batch_size``; the prefix of ``batch_size * batch_len``
    indices is reshaped to (N, batch_len), and batch ``i`` (of
    ``(batch_len - 1) // num_steps``) is ``X = rows[:, i*T:(i+1)*T]``,
    ``Y = rows[:, i*T+1:(i+1)*T+1]``, int64 of shape (N, T). Row ``r`` of batch ``i+1``
    continues row ``r`` of batch ``i``, so the training loop carries the state across
    batches (detached: truncated BPTT).
    """
    idx = _as_indices(indices)
    epoch_size = num_batches(len(idx), batch_size, num_steps, "consecutive")
    batch_size, num_steps = int(batch_size), int(num_steps)
    batch_len = len(idx) // batch_size
    rows = idx[:batch_size * batch_len].reshape(batch_size, batch_len)   # (N, batch_len)

    def batches():
        for i in range(epoch_size):
            t = i * num_steps
            yield rows[:, t:t + num_steps].copy(), rows[:, t + 1:t + num_steps + 1].copy()  # (N, T) each

    return batches()
