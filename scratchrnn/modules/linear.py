"""``Linear``: the affine layer a recurrent model's head needs, over any leading dims."""

import numpy as np

from scratchrnn import checks
from scratchrnn.kernels import matmul
from scratchrnn.modules.base import Module


class Linear(Module):
    """``y = x Wᵀ + b`` like torch.nn.Linear: weight (O, I), bias (O,), init U(-1/√I, 1/√I).

    x has shape (*, I) for any leading dims; ``backward(dy)`` returns dx (*, I) and
    accumulates ``dW = Σ dyᵀ x`` and ``db = Σ dy`` over all leading positions.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, seed=None):
        super().__init__(dtype, seed)
        self.in_features = checks.positive_int("in_features", in_features)
        self.out_features = checks.positive_int("out_features", out_features)
        self.bias = bool(bias)
        shapes = [("weight", (self.out_features, self.in_features))]
        if self.bias:
            shapes.append(("bias", (self.out_features,)))
        self._init_params(shapes, 1 / np.sqrt(self.in_features))

    def forward(self, x):
        """x (*, I) -> y (*, O)."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"input must be a numpy.ndarray, got {type(x).__name__}")
        if x.ndim < 1:
            raise ValueError(f"expected input of shape (*, {self.in_features}), got a 0-d array")
        checks.array("input", x, self.dtype, (None,) * (x.ndim - 1) + (self.in_features,),
                      f"(*, {self.in_features})")
        x2 = np.ascontiguousarray(x).reshape(-1, self.in_features)     # (M, I)
        y = matmul(x2, self._params["weight"].T)                       # (M, O)
        if self.bias:
            y += self._params["bias"]
        self._cache = x2, x.shape
        return y.reshape(x.shape[:-1] + (self.out_features,))          # (*, O)

    def backward(self, d_y):
        """Upstream grad (*, O) -> dx (*, I); accumulates ``grads``."""
        x2, x_shape = self._require_cache()
        checks.array("grad of output", d_y, self.dtype, x_shape[:-1] + (self.out_features,))
        d_y2 = np.ascontiguousarray(d_y).reshape(-1, self.out_features)  # (M, O)
        self._accumulate("weight", matmul(d_y2.T, x2))                   # (O, I)
        if self.bias:
            self._accumulate("bias", d_y2.sum(axis=0))                   # (O,)
        return matmul(d_y2, self._params["weight"]).reshape(x_shape)     # (*, I)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias}, dtype={self.dtype})"
