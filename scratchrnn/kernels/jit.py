"""The Numba decorators every kernel uses, and a disk cache that notices edits anywhere in this package.

Numba keys a function's on-disk cache on its own source file only. The time loops call
gate functions and product loops from the other files here and inline them, so an edit to
``gates.py`` would leave ``loops.py``'s cached machine code stale. The locator below stamps
every cached kernel of this package with a digest of all of the package's source files,
so any edit here recompiles every kernel of the package on its next use.
"""

import hashlib
import os

from numba import njit
from numba.core import caching

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def package_digest(directory=PACKAGE_DIR):
    """sha256 over the names and contents of the ``.py`` files in ``directory``, in sorted order."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py"):
            h.update(name.encode())
            with open(os.path.join(directory, name), "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


class _PackageStamp:
    """Mixin: a cache entry is valid for the function's own file *and* the package's digest."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != PACKAGE_DIR:
            return None                     # not one of ours: Numba's own locators take it
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return (super().get_source_stamp(), package_digest())


# Numba ≥ 0.61 names these classes without the leading underscore.
_CacheImpl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
_UserDir = getattr(caching, "UserProvidedCacheLocator", None) or caching._UserProvidedCacheLocator
_InTree = getattr(caching, "InTreeCacheLocator", None) or caching._InTreeCacheLocator


class PackageUserDirLocator(_PackageStamp, _UserDir):
    """``NUMBA_CACHE_DIR`` is set: cache there, stamped with the package digest."""


class PackageInTreeLocator(_PackageStamp, _InTree):
    """The default: ``__pycache__`` beside the source, stamped with the package digest."""


for _cls in (PackageInTreeLocator, PackageUserDirLocator):   # ends with UserDir first, as Numba orders them
    if _cls not in _CacheImpl._locator_classes:
        _CacheImpl._locator_classes.insert(0, _cls)

# error_model="numpy": division by zero gives inf/nan like NumPy instead of raising,
# with no per-division check in the loops.
# cache=True: compiled code is kept on disk; compiling from an empty cache takes a few
# seconds per model (the benchmarks measure it on their own).
# nogil=True: compiled code releases Python's GIL while it runs, so that the two directions
# of a bidirectional layer can run their passes on two threads at once (``team.side_by_side``).
jit = njit(cache=True, error_model="numpy", nogil=True)
# prange loops run on Numba's threads (``team.py``)
jit_parallel = njit(cache=True, error_model="numpy", parallel=True, nogil=True)
# may fuse a·b + c into an FMA: the product loops
jit_fma = njit(cache=True, error_model="numpy", fastmath={"contract"}, nogil=True)
# may reorder a sum: the loop vectoriser then keeps several running sums side by side and adds
# them up at the end (Numba leaves LLVM's SLP vectoriser off, so running sums written out by hand
# stayed scalar). For sums only: the order follows the CPU's vector width, so the last bits may
# differ from one CPU to another (and from the JIT off), but not from run to run on one.
jit_sum = njit(cache=True, error_model="numpy", fastmath={"reassoc"}, nogil=True)
# Inlined into the loops that call them (Numba IR inlining): LLVM's own inliner found the
# gate functions too big at several call sites, and an out-of-line call keeps a loop scalar.
jit_inline = njit(cache=True, error_model="numpy", inline="always")
