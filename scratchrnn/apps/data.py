"""Data for the seed tasks: a character corpus, its vocabulary and batch samplers,
MNIST as arrays, and the sin -> cos segments.

Nothing here imports torch at module import; :func:`load_mnist` imports torchvision
when it is called. Data is found through ``SCRATCHRNN_DATA`` (the CLI's
``--data-dir``); each task has a default that needs neither data nor network (the
char LM falls back to "The Zen of Python" from the standard library).

>>> text = "hello world"
>>> vocab = Vocab.from_text(text)
>>> vocab.chars
[' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
>>> vocab.encode("hello").tolist()
[3, 2, 4, 4, 5]
>>> vocab.decode([7, 5, 6, 4, 1])
'world'
>>> X, Y = next(consecutive_batches(np.arange(30), batch_size=2, num_steps=6))
>>> X
array([[ 0,  1,  2,  3,  4,  5],
       [15, 16, 17, 18, 19, 20]])
>>> Y
array([[ 1,  2,  3,  4,  5,  6],
       [16, 17, 18, 19, 20, 21]])
"""

import codecs
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import warnings
import zipfile

import numpy as np

from scratchrnn import _checks

DATA_ENV = "SCRATCHRNN_DATA"
CACHE_DIR = os.path.join("~", ".cache", "scratchrnn")       # expanded at call time
LYRICS_FILE = "jaychou_lyrics.txt.zip"

# The four original MNIST files and their md5s (the same as torchvision's MNIST.resources).
MNIST_FILES = (
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
)


# ---------------------------------------------------------------- where data lives

def data_dir():
    """The data root named by ``SCRATCHRNN_DATA`` (user-expanded), or None when unset or empty."""
    value = os.environ.get(DATA_ENV)
    return os.path.expanduser(value) if value else None


def default_lyrics_path():
    """``<data_dir()>/jaychou_lyrics.txt.zip``, or None when ``SCRATCHRNN_DATA`` is unset."""
    root = data_dir()
    return os.path.join(root, LYRICS_FILE) if root is not None else None


# ---------------------------------------------------------------- character corpus

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

    Errors: FileNotFoundError (missing file), ValueError (unsupported extension, a
    zip without a ``.txt`` member, text that is not UTF-8, an empty corpus).
    """
    if max_chars is not None:
        max_chars = _checks.positive_int("max_chars", max_chars)
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
            with open(path, "rb") as f:
                raw = f.read()
        elif ext == ".zip":
            try:
                z = zipfile.ZipFile(path)
            except zipfile.BadZipFile:
                raise ValueError(f"{path} is not a valid zip archive") from None
            with z:
                members = sorted(n for n in z.namelist() if n.lower().endswith(".txt"))
                if not members:
                    raise ValueError(f"expected a .txt file inside {path}, found {sorted(z.namelist())}")
                raw = z.read(members[0])
                source = f"{path}:{members[0]}"
        else:
            raise ValueError(f"unsupported corpus file extension {ext or '(none)'!r} for {path}: "
                             f"expected .txt or .zip")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{source} is not valid UTF-8: {e}") from None
    text = text.replace("\n", " ").replace("\r", " ")       # as the d2l tutorial does
    if max_chars is not None:
        text = text[:max_chars]
    if not text:
        raise ValueError(f"the corpus from {source} is empty")
    return text


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
                             f"and shape {_checks.shape_str(a.shape)}")
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
                             f"and shape {_checks.shape_str(idx.shape)}")
        bad = (idx < 0) | (idx >= len(self))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(f"index {int(idx[pos])} at position {pos} is out of range for a "
                             f"vocabulary of {len(self)} characters")
        return "".join(self.chars[i] for i in idx.tolist())


# ---------------------------------------------------------------- samplers (d2l semantics)

def _as_indices(indices):
    idx = np.asarray(indices)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise ValueError(f"expected a 1-D integer array of corpus indices, got dtype {idx.dtype} "
                         f"and shape {_checks.shape_str(idx.shape)}")
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
    batch_size = _checks.positive_int("batch_size", batch_size)
    num_steps = _checks.positive_int("num_steps", num_steps)
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


# ---------------------------------------------------------------- MNIST

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


_data_dir_env = data_dir     # load_mnist's parameter shadows the function's name


# ---------------------------------------------------------------- sine -> cosine

def sine_segments(num_segments, steps_per_segment=10, span=np.pi, start=0.0, endpoint=False):
    """The sin -> cos regression of the classic PyTorch "RNN regressor" tutorial.

    Segment ``k`` (k = 0 .. num_segments-1) samples the time axis exactly as the
    tutorial's training loop does::

        t = np.linspace(start + k*span, start + (k+1)*span, steps_per_segment,
                        dtype=np.float32, endpoint=endpoint)

    i.e. with the default ``endpoint=False``, ``t = start + k*span + j*span/S`` for
    j = 0 .. S-1: consecutive segments tile one time axis with no gap or repeat, so a
    hidden state carried from one segment to the next sees a continuous signal.
    (``endpoint=True`` gives the tutorial's first version, where the last time of a
    segment repeats as the first of the next.) Yields ``(x, y) = (sin t, cos t)``,
    each float32 of shape (T, N, I) = (steps_per_segment, 1, 1), time-major.
    """
    num_segments = _checks.positive_int("num_segments", num_segments)
    steps_per_segment = _checks.positive_int("steps_per_segment", steps_per_segment)
    span, start = float(span), float(start)
    if not np.isfinite(span) or span <= 0 or not np.isfinite(start):
        raise ValueError(f"expected a finite span > 0 and a finite start, got span={span}, start={start}")

    def segments():
        for k in range(num_segments):
            t = np.linspace(start + k * span, start + (k + 1) * span, steps_per_segment,
                            dtype=np.float32, endpoint=endpoint)         # (T,)
            yield np.sin(t)[:, None, None], np.cos(t)[:, None, None]   # (T, 1, 1) each

    return segments()
