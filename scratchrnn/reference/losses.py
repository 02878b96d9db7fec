"""The mean cross-entropy and its gradient in NumPy, one line per step of the maths.

``scratchrnn.cross_entropy`` computes the same in one compiled pass per row
(``scratchrnn.kernels.softmax``); ``tests/test_numerics.py`` proves the two equal.
"""

import numpy as np


def cross_entropy(logits, targets):
    """logits (M, C), targets (M,) -> (loss, dlogits): mean of −log softmax(l_m)[t_m], and
    (softmax − onehot(t)) / M. No checks: the arguments are those ``scratchrnn.cross_entropy`` accepts."""
    M = logits.shape[0]
    rows = np.arange(M)
    shifted = logits - logits.max(axis=1, keepdims=True)               # (M, C) each row's max is 0
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))         # (M, 1) log Σ_c e^(l_c − max)
    log_p = shifted - log_z                                            # (M, C) log softmax
    loss = -log_p[rows, targets].mean()                                # mean −log p_t
    d = np.exp(log_p)                                                  # (M, C) softmax
    d[rows, targets] -= 1                                              # softmax − onehot(t)
    return logits.dtype.type(loss), d / M                              # the mean's 1/M
