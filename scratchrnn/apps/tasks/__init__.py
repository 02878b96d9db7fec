"""The classic small tasks: character LM, MNIST read row by row, sin -> cos regression.

Each module has ``add_arguments(parser)`` and ``run(args)``; ``scratchrnn train``
exposes them. Nothing here runs on import.
"""
