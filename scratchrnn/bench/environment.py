"""The machine a result was measured on: CPU and vector ISA, cores, BLAS kernels, versions.

Every result records ``environment()``. ``forcing_warnings`` names the environment
variables that make a library run kernels below what the CPU supports (for instance
``OPENBLAS_CORETYPE=Haswell`` on an AVX-512 CPU: OpenBLAS then runs AVX2 kernels at about
half speed while torch's oneDNN keeps AVX-512); the harness prints them before it starts.

It also records which library's large buffers sit on transparent huge pages
(``huge_pages``). Where the kernel gives them only to memory that asks (THP "madvise"
mode), NumPy asks for its arrays of 4 MiB or more, and torch asks for its buffers of 2 MiB
or more only when ``THP_MEM_ALLOC_ENABLE`` is set. Without it, torch's time depended on the
process's history: in a long grid its buffers landed on memory NumPy had freed (huge
pages), early in a run or alone they did not, and oneDNN's LSTM at T=128 N=64 H=128 took
19–21 ms against 31–37 ms (2-core Zen 5, float32). The harness therefore sets
``THP_MEM_ALLOC_ENABLE=1`` before torch is imported (``give_torch_huge_pages``), unless the
environment sets it already, so both libraries run on huge pages from the first point.

And it has glibc keep the memory the process frees (``keep_freed_memory``). By default glibc
hands a large freed block back to the operating system (one it mapped on its own, or free space
at the heap's top past a threshold), and the next allocation of that size maps fresh pages,
each zeroed on first touch. torch's CPU allocator frees and allocates its tensors on every
call: measured on a 2-core Zen 4 (float32 LSTM, H=128, T=32 and 128, N=16 to 256), its
forward+backward took 9–25 % longer in the grid, and about 10 % longer in a loop of its own,
than with freed memory kept, and 2.4 times as long in the stage profile (T=32 N=64), where its
calls came a few at a time between ours; scratchrnn's, whose large arrays live in workspaces,
moved either way, as from run to run. PyTorch's performance tuning guide recommends, for CPU
work, an allocator that reuses freed memory (jemalloc, TCMalloc); the harness gets a similar effect
from glibc's own settings, unless the environment sets an allocator or glibc's malloc settings
itself, or ``SCRATCHRNN_KEEP_FREED_MEMORY=0`` asks for glibc's defaults (to see what fresh
arrays cost a process that runs on them: ``scratchrnn_fresh`` against ``scratchrnn``).
"""

import ctypes
import os
import platform

import numpy as np

# ISA levels, low to high
ISA_LEVELS = ["none", "SSE", "AVX", "AVX2", "AVX-512"]

# OpenBLAS core types (OPENBLAS_CORETYPE, threadpoolctl's "architecture") by their widest ISA
OPENBLAS_CORE_ISA = {
    **dict.fromkeys(["skylakex", "cooperlake", "sapphirerapids"], "AVX-512"),
    **dict.fromkeys(["haswell", "zen", "excavator", "skylake"], "AVX2"),
    **dict.fromkeys(["sandybridge", "bulldozer", "piledriver", "steamroller"], "AVX"),
    **dict.fromkeys(["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "nano",
                     "opteron", "opteron_sse3", "barcelona", "bobcat", "katmai",
                     "coppermine", "northwood", "banias", "generic"], "SSE"),
}
# torch.backends.cpu.get_cpu_capability() values
TORCH_CAPABILITY_ISA = {"AVX512": "AVX-512", "AVX2": "AVX2", "ZVECTOR": "none",
                        "VSX": "none", "DEFAULT": "none", "NO AVX": "none"}

# Variables by which the environment chooses malloc itself (an allocator preloaded, glibc's
# settings): ``keep_freed_memory`` then leaves malloc alone. GLIBC_TUNABLES counts where it names
# glibc.malloc.
MALLOC_VARIABLES = ("LD_PRELOAD", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")
KEEP_FREED_MEMORY = "SCRATCHRNN_KEEP_FREED_MEMORY"     # "0": leave glibc's defaults
# Variables that set which kernels or how many threads a library runs; recorded as found.
VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS",
             "MKL_DEBUG_CPU_TYPE", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
             "DNNL_MAX_CPU_ISA", "NPY_DISABLE_CPU_FEATURES", "CUDA_VISIBLE_DEVICES",
             "THP_MEM_ALLOC_ENABLE", "NUMPY_MADVISE_HUGEPAGE", *MALLOC_VARIABLES, "GLIBC_TUNABLES",
             KEEP_FREED_MEMORY)

# torch's CPU allocator reads this once, at its first allocation: set, it advises buffers of
# 2 MiB or more to use transparent huge pages (madvise MADV_HUGEPAGE).
TORCH_HUGE_PAGES = "THP_MEM_ALLOC_ENABLE"
THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"

# glibc's mallopt parameters, and what ``keep_freed_memory`` sets both to: blocks up to this
# size come from the heap and stay there when freed, and the heap's top is not trimmed below it.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_FREED_BYTES = 1 << 30
_malloc = None                       # what keep_freed_memory found or did, for ``environment``


def read_cpuinfo(path="/proc/cpuinfo"):
    """Returns (model name, set of flags) of the first CPU in /proc/cpuinfo; (None, set())
    where there is none (macOS, Windows)."""
    name, flags = None, set()
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("model name") and name is None:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                if name and flags:
                    break
    except OSError:
        pass
    return name, flags


def vector_isa(flags):
    """The widest x86 vector ISA in a set of /proc/cpuinfo flags ("AVX-512", "AVX2", ...)."""
    for isa, flag in (("AVX-512", "avx512f"), ("AVX2", "avx2"), ("AVX", "avx"), ("SSE", "sse2")):
        if flag in flags:
            return isa
    return "none"


def cpu_record(cpuinfo=None):
    """CPU model, vector ISA, the /proc/cpuinfo flags that decide kernels, and cores."""
    name, flags = cpuinfo if cpuinfo is not None else read_cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"model": name or platform.processor() or platform.machine(),
            "isa": vector_isa(flags) if flags else "unknown (no /proc/cpuinfo)",
            "isa_flags": sorted(f for f in flags if f.startswith(("avx", "fma", "amx"))),
            "cpu_count": os.cpu_count(), "usable_cpus": usable}


def thread_pools():
    """threadpoolctl's view of every BLAS/OpenMP library loaded once NumPy, SciPy's BLAS
    (the one Numba's np.dot and the kernels call) and torch are: library, kernel
    ("architecture"), threads, version, file."""
    import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS)
    try:
        import torch  # noqa: F401  (loads its OpenMP and MKL)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keep = ("user_api", "internal_api", "prefix", "architecture", "num_threads",
            "threading_layer", "version", "filepath")
    return [{k: p.get(k) for k in keep} for p in threadpool_info()]


def give_torch_huge_pages():
    """Sets ``THP_MEM_ALLOC_ENABLE=1`` unless the environment sets it (to any value); call it
    before torch is imported. Returns the value in effect."""
    return os.environ.setdefault(TORCH_HUGE_PAGES, "1")


def keep_freed_memory(env=os.environ, libc=None):
    """Has glibc keep the memory this process frees (see the module docstring): its mmap and trim
    thresholds set to ``KEEP_FREED_BYTES``, unless ``env`` preloads a library (an allocator, it
    may be), sets glibc's malloc settings or ``SCRATCHRNN_KEEP_FREED_MEMORY=0``; nothing on a C
    library other than glibc. Returns what is in effect, in words, which ``environment``
    records. ``libc``: the C library to call (tests), by default the process's own."""
    global _malloc
    own = [k for k in MALLOC_VARIABLES if env.get(k)]
    if "glibc.malloc" in env.get("GLIBC_TUNABLES", ""):
        own.append("GLIBC_TUNABLES")
    name, version = platform.libc_ver()
    if env.get(KEEP_FREED_MEMORY) == "0":
        _malloc = f"{name or 'the C library'}'s defaults ({KEEP_FREED_MEMORY}=0)"
    elif own:
        _malloc = f"as the environment sets it ({', '.join(own)})"
    elif name != "glibc":
        _malloc = f"{name or 'an unknown C library'}'s defaults (not glibc: left as they are)"
    else:
        libc = libc if libc is not None else ctypes.CDLL(None)
        done = [libc.mallopt(param, ctypes.c_int(KEEP_FREED_BYTES))
                for param in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD)]
        size = f"{KEEP_FREED_BYTES / 2**30:g} GiB"
        _malloc = (f"glibc {version} keeps freed memory (mmap and trim thresholds {size})" if all(done)
                   else f"glibc {version}'s defaults (it refused thresholds of {size})")
    return _malloc


def huge_pages(thp_mode=THP_MODE, smaps="/proc/self/smaps"):
    """{"thp": the kernel's mode ("always", "madvise", "never"; None where unknown), "numpy",
    "torch": whether a fresh 8 MiB buffer of each carries the huge-page advice (None where
    that cannot be read, or torch is not installed)}."""
    try:
        with open(thp_mode) as f:
            mode = f.read().split("[", 1)[1].split("]", 1)[0]
    except (OSError, IndexError):
        mode = None
    size = 1 << 23
    inside = 1 << 22                   # NumPy advises from the buffer's second page on
    a = np.empty(size, np.uint8)
    out = {"thp": mode, "numpy": _advised(a.ctypes.data + inside, smaps), "torch": None}
    try:
        import torch
    except ImportError:
        return out
    t = torch.empty(size, dtype=torch.uint8)
    out["torch"] = _advised(t.data_ptr() + inside, smaps)
    return out


def _advised(address, smaps):
    """Whether the mapping that holds ``address`` is advised for huge pages ("hg" among its
    VmFlags in /proc/self/smaps); None where that cannot be read."""
    try:
        with open(smaps) as f:
            inside = False
            for line in f:
                head = line.split(None, 1)[0] if line.strip() else ""
                if "-" in head and not head.endswith(":"):           # "start-end perms ..."
                    lo, hi = (int(v, 16) for v in head.split("-"))
                    inside = lo <= address < hi
                elif inside and head == "VmFlags:":
                    return "hg" in line.split()[1:]
    except (OSError, ValueError):
        return None
    return None


def torch_record():
    """torch's version, CPU capability, threads, MKL/oneDNN presence, CUDA build."""
    try:
        import torch
    except ImportError:
        return None
    return {"version": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available(),
            "cuda_build": torch.version.cuda}


def versions():
    """Python and the libraries that are timed."""
    import numba
    import scipy
    try:
        import torch
        tv = torch.__version__
    except ImportError:
        tv = None
    return {"python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__, "torch": tv}


def forcing_warnings(cpu, pools, torch, env, pages=None):
    """Returns one sentence per setting that makes a library run below the CPU's ISA, or
    gives one library huge pages and not the other.

    ``cpu`` from ``cpu_record``, ``pools`` from ``thread_pools``, ``torch`` from
    ``torch_record``, ``env`` a mapping of environment variables, ``pages`` from ``huge_pages``.
    """
    out = []
    if pages and pages["thp"] == "madvise" and None not in (pages["numpy"], pages["torch"]) \
            and pages["numpy"] != pages["torch"]:
        on, off = ("NumPy", "torch") if pages["numpy"] else ("torch", "NumPy")
        out.append(f"{on}'s large buffers are advised for huge pages and {off}'s are not "
                   f"(transparent huge pages: {pages['thp']}; {TORCH_HUGE_PAGES}="
                   f"{env.get(TORCH_HUGE_PAGES, 'unset')}): {off}'s times then depend on the "
                   f"memory it happens to reuse")
    top = cpu["isa"]
    level = ISA_LEVELS.index(top) if top in ISA_LEVELS else None
    core = env.get("OPENBLAS_CORETYPE")
    if core:
        isa = OPENBLAS_CORE_ISA.get(core.lower())
        if isa and level is not None and ISA_LEVELS.index(isa) < level:
            out.append(f"OPENBLAS_CORETYPE={core} forces OpenBLAS onto {isa} kernels on a CPU "
                       f"with {top}; users' machines do not set it: unset it to benchmark")
        elif isa is None:
            out.append(f"OPENBLAS_CORETYPE={core} is set (a core type this harness does not "
                       f"rank); OpenBLAS runs its kernels, not the ones it would choose")
    if env.get("OPENBLAS_L2_SIZE"):
        out.append(f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']} overrides the cache size OpenBLAS "
                   "blocks its GEMMs for; unset it to benchmark")
    for p in pools or []:
        arch = (p.get("architecture") or "").lower()
        isa = OPENBLAS_CORE_ISA.get(arch)
        if p.get("internal_api") == "openblas" and isa and level is not None \
                and ISA_LEVELS.index(isa) < level:
            out.append(f"{p['prefix']} runs its {p['architecture']} kernels ({isa}) on a CPU "
                       f"with {top}")
    for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
                 "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE", "NPY_DISABLE_CPU_FEATURES"):
        if env.get(name):
            out.append(f"{name}={env[name]} limits the kernels torch/MKL/NumPy choose")
    if torch and level is not None:
        isa = TORCH_CAPABILITY_ISA.get(torch["cpu_capability"])
        if isa and ISA_LEVELS.index(isa) < level and top in ("AVX2", "AVX-512"):
            out.append(f"torch runs its {torch['cpu_capability']} kernels on a CPU with {top}")
    return out


def cuda_available():
    """True if torch sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def cuda_info():
    """The GPU's name, capability, CUDA and cuDNN versions (call only with a GPU)."""
    import torch
    return {"device_name": torch.cuda.get_device_name(0),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def tf32_state(requested):
    """Sets torch's TF32 switches to ``requested`` and returns what they read back."""
    try:
        import torch
    except ImportError:
        return {"requested": requested}
    torch.backends.cuda.matmul.allow_tf32 = requested
    torch.backends.cudnn.allow_tf32 = requested          # torch's default is True: set it
    return {"requested": requested,
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32}


def environment(tf32=None, cuda=None):
    """The run's machine and software, with the forcing warnings (see module docstring)."""
    import numba
    cpu, pools, torch, pages = cpu_record(), thread_pools(), torch_record(), huge_pages()
    env = {k: os.environ[k] for k in VARIABLES if k in os.environ}
    return {"cpu": cpu, "platform": platform.platform(), "thread_pools": pools, "torch": torch,
            "huge_pages": pages,
            "malloc": _malloc or "the C library's defaults (the harness did not set them)",
            "numba": {"threads": numba.config.NUMBA_NUM_THREADS,
                      "threading_layer": numba.config.THREADING_LAYER,
                      "disable_jit": bool(numba.config.DISABLE_JIT)},
            "variables": env, "versions": versions(),
            "forcing": forcing_warnings(cpu, pools, torch, env, pages),
            "cuda": cuda, "tf32": tf32}


def describe(env):
    """One line naming the machine: "AMD EPYC (AVX2), 2 of 2 CPUs; OpenBLAS Haswell × 2 ..."."""
    cpu = env["cpu"]
    blas = ", ".join(f"{p['prefix']} {p.get('architecture') or p['internal_api']} ×{p['num_threads']}"
                     for p in env.get("thread_pools") or [] if p["user_api"] == "blas")
    t = env.get("torch")
    torch = f"; torch {t['cpu_capability']} ×{t['threads']}" if t else ""
    pages = env.get("huge_pages") or {}
    advised = [name for name, key in (("NumPy", "numpy"), ("torch", "torch")) if pages.get(key)]
    thp = f"; huge pages ({pages['thp']}): {', '.join(advised) or 'neither'}" if pages.get("thp") else ""
    return f"{cpu['model']} ({cpu['isa']}), {cpu['usable_cpus']} of {cpu['cpu_count']} CPUs; {blas}{torch}{thp}"
