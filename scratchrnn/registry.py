"""The model kinds, in one table that the library, the applications and the benchmarks share.

    >>> from scratchrnn import registry
    >>> registry.KINDS["lstm"].gates, registry.KINDS["lstm"].gate_names
    (4, ('i', 'f', 'g', 'o'))
    >>> registry.model_class("gru").__name__
    'GRU'

``gates`` is G, the number of H-row blocks in ``weight_ih``/``weight_hh`` (torch's layout);
``gate_names`` lists those blocks in torch's order; ``states`` names the recurrent state.
"""

from typing import NamedTuple


class Kind(NamedTuple):
    name: str            # "rnn", "lstm", "gru": the key used on the command line and in results
    label: str           # "RNN", "LSTM", "GRU": the class name here and in torch.nn
    gates: int           # G: row blocks of weight_ih / weight_hh
    gate_names: tuple    # the blocks in torch's order
    states: tuple        # ("h",) or ("h", "c")


KINDS = {
    "rnn": Kind("rnn", "RNN", 1, ("h",), ("h",)),
    "lstm": Kind("lstm", "LSTM", 4, ("i", "f", "g", "o"), ("h", "c")),
    "gru": Kind("gru", "GRU", 3, ("r", "z", "n"), ("h",)),
}
NAMES = tuple(KINDS)     # ("rnn", "lstm", "gru")


def kind(name):
    """The ``Kind`` called ``name``; a clear ValueError for anything else."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"expected a model kind among {', '.join(NAMES)}, got {name!r}") from None


def model_class(name):
    """The scratchrnn class of kind ``name`` (``RNN``, ``LSTM``, ``GRU``)."""
    from scratchrnn import modules        # late: the modules import this table
    return getattr(modules, kind(name).label)


def cell_class(name):
    """The scratchrnn one-step cell of kind ``name`` (``RNNCell``, ``LSTMCell``, ``GRUCell``)."""
    from scratchrnn import modules
    return getattr(modules, kind(name).label + "Cell")


def torch_class(name):
    """torch's class of kind ``name`` (``torch.nn.RNN``, ...); imports torch."""
    import torch
    return getattr(torch.nn, kind(name).label)
