"""Where data lives (``SCRATCHRNN_DATA``, the cache directory, the file names) and ``DataError``."""

import os

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


class DataError(ValueError):
    """A data file that exists but cannot be used: corrupt, truncated, not the format it claims.

    The message names the file and what is wrong with it. A ValueError, so the command line
    reports it as its one ``error:`` line; missing files are FileNotFoundError instead.
    """


def data_dir():
    """The data root named by ``SCRATCHRNN_DATA`` (user-expanded), or None when unset or empty."""
    value = os.environ.get(DATA_ENV)
    return os.path.expanduser(value) if value else None


def default_lyrics_path():
    """``<data_dir()>/jaychou_lyrics.txt.zip``, or None when ``SCRATCHRNN_DATA`` is unset."""
    root = data_dir()
    return os.path.join(root, LYRICS_FILE) if root is not None else None
