"""Data for the seed tasks: a character corpus, its vocabulary and batch samplers,
MNIST as arrays, and the sin -> cos segments.

Nothing here imports torch: :func:`load_mnist` reads the IDX files with NumPy.
A data file that is there but unusable (corrupt, truncated, not its format) raises
:class:`DataError`, a ValueError whose message names the file and what is wrong.
Data is found through ``SCRATCHRNN_DATA`` (the CLI's ``--data-dir``) and only read,
never written; each task has a default that needs neither data nor network (the char
LM falls back to "The Zen of Python" from the standard library).

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

import numpy as np  # noqa: F401  (the doctest above uses it)

from scratchrnn.apps.data.corpus import Vocab, consecutive_batches, load_corpus, num_batches, random_batches
from scratchrnn.apps.data.mnist import load_mnist
from scratchrnn.apps.data.paths import (CACHE_DIR, DATA_ENV, LYRICS_FILE, MNIST_FILES, DataError, data_dir,
                                        default_lyrics_path)
from scratchrnn.apps.data.sine import sine_segments

__all__ = ["CACHE_DIR", "DATA_ENV", "LYRICS_FILE", "MNIST_FILES", "DataError", "Vocab", "consecutive_batches",
           "data_dir", "default_lyrics_path", "load_corpus", "load_mnist", "num_batches", "random_batches",
           "sine_segments"]
