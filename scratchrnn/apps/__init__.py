"""Applications built on the library: the command line, ``verify``, ``gradflow``, and the tasks.

Nothing in the library (modules, functional, kernels, numerics) imports from here.
"""
