"""``Workspace``: the large arrays of one layer's forward and backward, kept from call to call.

A fresh array of several MB is paid for when it is first written: the operating system
maps and zeroes each 4 KiB page on first touch (on the virtual machines the benchmarks
ran on, about 1 µs a page). A training loop calls each layer with the same shapes step
after step, so the caches of its forward and the scratch space of its backward can live
in the same memory every time. The models (``scratchrnn.RNN``, ``LSTM``, ``GRU``) keep one
workspace per layer and direction; the functions of ``scratchrnn.functional`` take one
as an option (``workspace=``) and allocate fresh arrays without it.

What a workspace changes for the caller of ``scratchrnn.functional``:

- a forward given ``workspace=ws`` puts its cache in ``ws``, and its ``h_n`` (``c_n``) and,
  without ``lengths``, its ``out`` are views of that cache: they hold until the next forward
  given ``ws`` (with ``lengths``, ``out`` is a fresh array, its padded steps zeroed);
- a backward of that cache puts its scratch (``da``, the record ``dh`` of every step) in
  ``ws`` as well; ``dx`` is always a fresh array, and so are the parameter gradients unless
  the backward is given arrays to add them into (``accumulate``);
- the backward of a cache whose workspace a later forward has reused raises RuntimeError
  rather than return gradients of the wrong forward (the workspace counts its forwards and
  each cache remembers its number).

The models copy what they return, so for them nothing changes but speed and the memory
held between steps: a model holds its last forward's cache anyway, and with workspaces
also the backward's scratch (``da`` and ``dh``: T·N·(G·H + H) values per layer and direction)
and the forms of ``W_hh`` the loops read (a copy of ``W_hhᵀ`` and, where they are used, its
panels and those of ``W_hh``: G·H·P values each), each kept once its first call made it.

    >>> import numpy as np
    >>> ws = Workspace()
    >>> a = ws.take("gates", (3, 2, 8), np.float32)
    >>> a is ws.take("gates", (3, 2, 8), np.float32), a is ws.take("gates", (4, 2, 8), np.float32)
    (True, False)

Every array it hands out starts on a cache line (``empty_aligned``): NumPy's own ``np.empty``
starts large arrays 16 bytes past one, where every 512-bit load of a loop spans two lines.
"""

import numpy as np

# Where each array starts: a multiple of a cache line, which is also one 512-bit vector.
CACHE_LINE = 64


class Workspace:
    """Named arrays reused from call to call, and a count of the forwards that used them."""

    def __init__(self):
        self._arrays = {}
        self.forwards = 0          # forwards that have put their caches here so far

    def take(self, name, shape, dtype):
        """An array ``name`` of ``shape`` and ``dtype``, uninitialised: the one kept from the last
        call when shape and dtype agree, else a new one (kept from now on)."""
        a = self._arrays.get(name)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:   # a dtype equals its type and name
            a = empty_aligned(shape, dtype)
            self._arrays[name] = a
        return a

    def begin_forward(self):
        """Count one more forward; returns its number, which its cache keeps."""
        self.forwards += 1
        return self.forwards

    def check_current(self, number, where):
        """RuntimeError when a forward later than forward ``number`` has reused this workspace."""
        if number != self.forwards:
            raise RuntimeError(
                f"{where}: the cache's workspace was reused by a later forward ({self.forwards - number} "
                f"since), which overwrote the saved states; run backward before the next forward "
                f"on the same workspace, or give each forward a workspace of its own")

    def arrays(self):
        """{name: array} held now: the arrays themselves, for inspection; read them, do not write
        them. A model's backward does not notice a write into the states its forward saved here:
        it fingerprints x and the weights only (``scratchrnn.functional``, ``checked``)."""
        return dict(self._arrays)

    @property
    def nbytes(self):
        """Bytes held."""
        return sum(a.nbytes for a in self._arrays.values())

    def __repr__(self):
        return f"Workspace({len(self._arrays)} arrays, {self.nbytes / 2**20:.1f} MiB, forwards={self.forwards})"


def take(workspace, name, shape, dtype):
    """``workspace.take(...)``, or a fresh ``empty_aligned`` without a workspace."""
    if workspace is None:
        return empty_aligned(shape, dtype)
    return workspace.take(name, shape, dtype)


def empty_aligned(shape, dtype):
    """``np.empty(shape, dtype)`` whose data starts on a multiple of ``CACHE_LINE`` bytes: a view
    into a byte buffer one line longer, its first ``CACHE_LINE``-aligned byte on.

    ``np.empty`` starts an array on 16 bytes: on the Intel Xeon of the benchmarks (glibc 2.36),
    16 bytes past a line for every array of 64 KiB or more, and 0, 16, 32 or 48 bytes past one
    in turn where freed memory is kept (``scratchrnn.bench.environment.keep_freed_memory``). A
    128-byte row of the per-step product's panels (``kernels.panels``) 16 bytes past a line spans
    three lines, and each of its two 512-bit loads two: the product from panels on cache lines took
    0.90–1.00x the time of one from panels 16 bytes past (one core, float32, eight shapes of 8–64
    rows, two runs; benchmarks/results/xeon-avx512-2026-12-07-aligned/panels_aligned.txt).
    """
    dtype = np.dtype(dtype)
    if min(np.atleast_1d(shape), default=0) < 0:
        raise ValueError(f"empty_aligned: expected dimensions of at least 0, got {shape}")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + CACHE_LINE, np.uint8)                   # (nbytes + CACHE_LINE,) bytes
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start:start + nbytes].view(dtype).reshape(shape)
