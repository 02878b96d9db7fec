"""Benchmarks of scratchrnn against torch: ``scratchrnn bench`` or ``python -m scratchrnn.bench``.

Pieces, each one concern, imports pointing one way (top to bottom):

- ``spec``: the grid, the FLOP model, names, targets, the ratio convention;
- ``environment``: the machine (CPU, ISA, BLAS kernels and threads, versions, warnings);
- ``timing``: the load guard, guarded samples, spread;
- ``impls``: the implementations built at a point; ``measure``: a point timed, interleaved;
- ``nojit``: scratchrnn without the JIT and Numba's compile time, in processes of their own;
- ``peaks``: the GEMM peak and the check that no row exceeds it;
- ``report`` and ``document``: derived numbers and Markdown; ``plots``: PNGs;
- ``grid``: a grid run end to end; ``train``: one epoch of each training task;
- ``cli``: the command line.

Benchmarks of their own, each with ``python -m``: ``stages`` (where one call spends its time;
``stage_timers`` holds its timers), ``misses`` (a grid's misses, each profiled by ``stages``, its
GEMM stages also run through torch's matmul by ``torch_gemms``), ``bounds`` (float64's floor at a
grid's misses), and those that time the ways one rule chooses between: ``products``,
``directions`` (with ``ways``), ``pieces``, ``groups``, ``one_hot`` and ``param_grads``.
"""
