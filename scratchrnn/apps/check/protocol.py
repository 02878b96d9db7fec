"""The check protocol: how ``scratchrnn check`` calls an implementation.

A target is any Python callable, named on the command line as ``package.module:name``::

    def my_lstm(config: dict, arrays: dict) -> dict: ...

``config`` describes the model of one case, with torch's constructor arguments:
``kind`` ("rnn", "lstm", "gru" or "softmax"), ``mode`` ("sequence", "cell" or "loss"),
``nonlinearity`` ("tanh"/"relu" for the RNN), ``input_size``, ``hidden_size``, ``num_layers``,
``bias``, ``bidirectional``, ``proj_size``, ``batch_first`` (always False).

``arrays`` holds NumPy arrays in torch's layout, keyed as in the golden suite:

- inputs: ``x`` (T, N, I), or (N, I) for a cell; ``h0`` (L·D, N, H_out) and for the LSTM ``c0``
  (L·D, N, H), absent when the initial state is zero; ``lengths`` (N,) int64 when the sequences
  have their own lengths; every parameter by its torch name (``weight_ih_l0``, ``bias_hh_l1_reverse``,
  ``weight_hr_l0``; for a cell ``weight_ih``, ...); softmax cases: ``logits`` (T, N, V),
  ``targets`` (T, N) int64, ``mask`` (T, N) bool;
- upstream gradients: ``d_out`` (like ``out``), ``d_h_n``, ``d_c_n`` (like ``h_n``, ``c_n``).

The target returns a dict with the forward values ``out``, ``h_n``, ``c_n`` (a cell returns its
new state as ``h_n``/``c_n``; a loss returns ``loss``) and the gradient of
``L = Σ out·d_out + Σ h_n·d_h_n + Σ c_n·d_c_n`` with respect to every input, as ``grad_<key>``:
``grad_x``, ``grad_h0``, ``grad_c0`` (when given), ``grad_weight_ih_l0``, ... (``grad_logits`` for
a loss). A key it leaves out is reported as missing. To decline a case it cannot express, it
raises ``NotImplementedError("why")``; the case is then listed as skipped, with that reason.

``scratchrnn check`` may also call the target on a shortened sequence (``x[t:]`` from the
reference state after step t) to find the step where its backward goes wrong.

The reference implementation itself is a target: ``scratchrnn.apps.golden:run_reference``.
"""

import importlib
import os
import sys


class UsageError(Exception):
    """A target that cannot be loaded or used; the command line turns it into exit 2."""


class Target:
    """A loaded target: ``call(config, arrays) -> dict`` plus how to name things in reports.

    ``kinds``: the model kinds (and modes) it is checked on, None for all; ``names`` maps suite
    keys to the names the user knows (``grad_weight_ih_l0`` -> ``dWx``); ``gate_order`` maps a
    kind to its gate blocks in the user's layout; ``via`` says which function ran a case.
    """

    def __init__(self, label, call, applies=None, names=None, gate_order=None, via=None, layout="torch"):
        self.label = label
        self.call = call
        self.applies = applies or (lambda config: True)
        self.names = names or {}
        self.gate_order = gate_order or {}
        self.via = via or (lambda config: label)
        self.layout = layout

    def __call__(self, config, arrays):
        return self.call(config, arrays)


def protocol_target(spec):
    """The ``Target`` for ``package.module:name``, a callable following this protocol."""
    obj = resolve(spec)
    if not callable(obj):
        raise UsageError(f"expected {spec} to be a callable (config, arrays) -> dict, got a "
                         f"{type(obj).__name__}")
    return Target(spec, obj)


def resolve(spec):
    """The object named by ``package.module:name`` (the current directory is importable)."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise UsageError(f"expected a target of the form package.module:name, got {spec!r}")
    mod_name, attr = spec.split(":")
    module = import_module(mod_name)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def import_module(name):
    """Import ``name`` with the current directory on the path, as ``python -m`` would."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise UsageError(f"cannot import module {name!r}: no module named {e.name!r} "
                             f"(run from the folder that holds it, or set PYTHONPATH)") from None
        raise UsageError(f"importing {name!r} failed: {e}") from None
    except Exception as e:      # the user's module raised while importing
        raise UsageError(f"importing {name!r} failed: {type(e).__name__}: {e}") from None
