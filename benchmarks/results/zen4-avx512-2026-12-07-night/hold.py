"""What holding BLAS on one thread and restoring it costs, as a pass in row blocks does once
(``scratchrnn.kernels.team.serial_blas``), two ways, for every BLAS library loaded (NumPy's and
SciPy's OpenBLAS here):

- "threadpoolctl": the package's ``serial_blas(2)``, which gets and sets each library's thread
  count through threadpoolctl's methods (each builds the C function's name and looks it up, and
  a set checks which Python thread controls the library's limits);
- "own functions": the same counts got and set through OpenBLAS's own C functions
  (``openblas_get_num_threads``, ``openblas_set_num_threads`` under the prefix and suffix of the
  library's build), looked up once, as a context manager of the same shape (without
  threadpoolctl's guard on the controlling thread).

Medians of 5,000 enters and exits each, in 9 rounds taking turns; each round's two medians.

    python benchmarks/results/zen4-avx512-2026-12-07-night/hold.py
"""
import ctypes
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from scratchrnn.kernels import team

sys.path.insert(0, str(Path(__file__).parent.parent / "xeon-avx512-2026-12-07-tried"))
from rounds import header   # noqa: E402  (the tried folder's)

CALLS = 5000
ROUNDS = 9


def own_functions(lib):
    """(get, set) of ``lib``'s thread count: OpenBLAS's C functions."""
    library = ctypes.CDLL(lib.filepath)              # loaded already: the same library
    for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
        get_count = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
        set_count = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
        if get_count is not None and set_count is not None:
            return get_count, set_count
    raise RuntimeError(f"{lib.filepath}: no OpenBLAS thread-count functions found")


class held_through_own_functions:
    functions = None                                 # [(get, set), ...], one pair per library

    def __init__(self, nblocks):
        self.active = nblocks > 1

    def __enter__(self):
        if self.active:
            self.saved = [(set_count, get_count()) for get_count, set_count in self.functions]
            for set_count, _ in self.saved:
                set_count(1)
        return self

    def __exit__(self, *exc):
        if self.active:
            for set_count, n in self.saved:
                set_count(n)
        return False


def through_threadpoolctl():
    with team.serial_blas(2):
        pass


def through_own_functions():
    with held_through_own_functions(2):
        pass


def median_us(f):
    taken = []
    for _ in range(CALLS):
        t = time.perf_counter()
        f()
        taken.append(time.perf_counter() - t)
    return np.median(taken) * 1e6


def main():
    libs = team.serial_blas.libraries()
    held_through_own_functions.functions = [own_functions(lib) for lib in libs]
    for lib, (get_count, _) in zip(libs, held_through_own_functions.functions):
        assert get_count() == lib.get_num_threads()
    print(header())
    print("libraries:", ", ".join(Path(lib.filepath).name for lib in libs))
    print("round | threadpoolctl µs | own functions µs")
    for r in range(ROUNDS):
        slow, fast = median_us(through_threadpoolctl), median_us(through_own_functions)
        print(f"{r} | {slow:.2f} | {fast:.2f}")


if __name__ == "__main__":
    main()
