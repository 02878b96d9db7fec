"""Benchmarks of the recurrent core: ``python -m benchmarks`` or ``scratchrnn bench``.

``grid.py`` times every implementation present (scratchrnn, scratchrnn without JIT,
torch CPU, torch_ref's loop, and both torch ones on a GPU) over a grid of sizes;
``plots.py`` draws its PNGs.
"""
