"""``scratchrnn check``: hold any RNN, LSTM or GRU implementation to the float64 golden suite.

- ``protocol``: how a target is called (``package.module:name``, NumPy arrays in torch's layout);
- ``torch_adapter`` and ``cs231n``: ready adapters for a ``torch.nn.Module`` and CS231n's functions;
- ``runner``: runs the cases, compares every tensor, finds the first wrong step;
- ``diagnose``: gate blocks and error kinds; ``report``: the table and the JSON.

``check(target, cases)`` returns the per-case results; the command line prints them.
"""

import numpy as np

from scratchrnn.apps.check.cs231n import cs231n_target
from scratchrnn.apps.check.diagnose import Finding, tolerance
from scratchrnn.apps.check.protocol import Target, UsageError, protocol_target
from scratchrnn.apps.check.runner import CaseResult, Step, run
from scratchrnn.apps.check.torch_adapter import torch_target


def check(target, cases, dtype=np.float64, progress=None):
    """Run ``target`` (a ``Target``) over ``cases`` (``golden.generate()`` or ``golden.load(dir)``)."""
    return run(target, cases, dtype, progress)


__all__ = ["check", "cs231n_target", "torch_target", "protocol_target", "Target", "UsageError",
           "CaseResult", "Finding", "Step", "tolerance"]
