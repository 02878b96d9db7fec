"""``Linear``: the affine layer a recurrent model's head needs, over any leading dims."""

import numpy as np

from scratchrnn import checks
from scratchrnn.kernels import passes, sums, team
from scratchrnn.modules.base import Module
from scratchrnn.workspace import Workspace


class Linear(Module):
    """``y = x Wᵀ + b`` like torch.nn.Linear: weight (O, I), bias (O,), init U(-1/√I, 1/√I).

    x has shape (*, I) for any leading dims; ``backward(dy)`` returns dx (*, I) and
    accumulates ``dW = Σ dyᵀ x`` and ``db = Σ dy`` over all leading positions.

    The GEMMs are a recurrent layer's input half (``kernels.passes.project`` and
    ``param_grads``), in row blocks on Numba's threads where there is enough work
    (``team.gemm_blocks``), so that a model and its head share one thread pool: after a GEMM
    on BLAS's own threads, OpenBLAS's idle worker keeps spinning, and the recurrent pass that
    follows on Numba's threads loses a core to it.
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
        self._scratch = Workspace()      # dW's partial sums and db, added into grads each backward

    def forward(self, x):
        """x (*, I) -> y (*, O)."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"input must be a numpy.ndarray, got {type(x).__name__}")
        if x.ndim < 1:
            raise ValueError(f"expected input of shape (*, {self.in_features}), got a 0-d array")
        checks.array("input", x, self.dtype, (None,) * (x.ndim - 1) + (self.in_features,),
                      f"(*, {self.in_features})")
        x2 = np.ascontiguousarray(x).reshape(-1, self.in_features)     # (M, I)
        y = np.empty((x2.shape[0], self.out_features), self.dtype)     # (M, O)
        bias = self._params["bias"] if self.bias else np.empty(0, self.dtype)
        nb = team.gemm_blocks(*x2.shape, self.out_features)
        args = (x2, self._params["weight"], bias, np.empty(0, self.dtype), y)   # y = x Wᵀ + b
        _in_blocks(passes.project, passes.project_blocks, nb, *args)
        self._cache = x2, x.shape
        return y.reshape(x.shape[:-1] + (self.out_features,))          # (*, O)

    def backward(self, d_y):
        """Upstream grad (*, O) -> dx (*, I); accumulates ``grads``."""
        x2, x_shape = self._require_cache()
        checks.array("grad of output", d_y, self.dtype, x_shape[:-1] + (self.out_features,))
        d_y2 = np.ascontiguousarray(d_y).reshape(-1, self.out_features)  # (M, O)
        M, O, I = d_y2.shape[0], self.out_features, self.in_features
        nb = team.gemm_blocks(M, I, O)
        dx2 = np.empty((M, I), self.dtype)                               # returned: a fresh array
        dw = self._grad_in_place("weight")                               # (O, I): the pass adds dW into it
        in_place = dw is not None
        if not in_place:
            dw = self._scratch.take("dw", (O, I), self.dtype)
            dw.fill(0)
        partial = self._scratch.take("partial", (nb - 1, O, I), self.dtype)
        empty1, empty2 = np.empty(0, self.dtype), np.empty((0, 0), self.dtype)
        # dx = dy W, dW += dyᵀ x: the input half of a layer's gradients, no recurrent half
        args = (x2, empty2, self._params["weight"], d_y2, np.empty((0, O), self.dtype), dx2, dw,
                empty2, empty1, empty1, partial, np.empty((0, 0, 0), self.dtype),
                sums.INPUT_CHUNK, d_y2.shape[0], O)                      # dW over chunks of rows, one piece
        _in_blocks(passes.param_grads, passes.param_grads_blocks, nb, *args)
        if not in_place:
            self._accumulate("weight", dw)
        if self.bias:                                # pairwise: NumPy's sum(axis=0) adds row after row
            db = self._scratch.take("db", (O,), self.dtype)              # added into grads below
            sums.column_sums(d_y2, db, 0, M)                             # (O,)
            self._accumulate("bias", db)
        return dx2.reshape(x_shape)                                      # (*, I)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias}, dtype={self.dtype})"


def _in_blocks(serial, blocked, nblocks, *args):
    """``serial(*args)``, or for ``nblocks`` > 1 ``blocked(*args, nblocks)`` with BLAS held on
    one thread meanwhile (``team.serial_blas``)."""
    with team.serial_blas(nblocks):
        if nblocks == 1:
            serial(*args)
        else:
            blocked(*args, nblocks)
