"""``Module``: parameters in torch's order, gradients that accumulate, train/eval modes.

Every model, cell and ``Linear`` derives from it. ``state_pair`` reads an ``(h, c)`` pair
argument the way the LSTM and its cell both need.
"""

import numpy as np

from scratchrnn import checks


class Module:
    """Parameters (``state_dict`` order = torch's), gradients that accumulate, train/eval."""

    def __init__(self, dtype, seed):
        self.dtype = checks.as_float_dtype(dtype)
        # One generator per module: it draws the initial weights, then the dropout masks.
        # Replace it (``m.generator = np.random.default_rng(s)``) to replay masks.
        self.generator = np.random.default_rng(seed)
        self._params = {}
        self.grads = {}
        self.training = True
        self._cache = None

    def _init_params(self, shapes, bound):
        """Register parameters in torch's order, each U(-bound, bound) from the generator."""
        for name, shape in shapes:
            w = self.generator.uniform(-bound, bound, size=shape)
            self._params[name] = np.ascontiguousarray(w, dtype=self.dtype)
            self.grads[name] = np.zeros(shape, dtype=self.dtype)

    # -- parameters ---------------------------------------------------------
    def named_parameters(self):
        """(name, array) pairs of the live parameters; optimizers update them in place."""
        return list(self._params.items())

    def state_dict(self):
        """name -> copy of the parameter, torch's names and shapes."""
        return {k: v.copy() for k, v in self._params.items()}

    def load_state_dict(self, state):
        """Copy parameters in from NumPy arrays or torch tensors with exactly our keys and shapes."""
        if not hasattr(state, "keys"):
            raise TypeError(f"state must be a mapping of name -> array, got {type(state).__name__}")
        missing = [k for k in self._params if k not in state]
        extra = [k for k in state if k not in self._params]
        if missing or extra:
            raise ValueError(f"state_dict keys do not match: missing {missing}, unexpected {extra}")
        new = {}
        for k, v in state.items():
            if hasattr(v, "detach"):                 # a torch tensor; no torch import needed
                v = v.detach().cpu()
                if v.is_floating_point():            # bfloat16 has no NumPy dtype; float64 holds them all
                    v = v.double()
                v = v.numpy()
            try:
                v = np.asarray(v)
            except (ValueError, TypeError) as e:     # e.g. a ragged nested list
                raise TypeError(f"expected {k} to be an array of shape "
                                f"{checks.shape_str(self._params[k].shape)}, got a {type(v).__name__} "
                                f"that NumPy cannot make into one ({e})") from None
            if v.shape != self._params[k].shape:
                raise ValueError(f"expected {k} of shape {checks.shape_str(self._params[k].shape)}, "
                                 f"got {checks.shape_str(v.shape)}")
            if not np.issubdtype(v.dtype, np.floating):
                raise TypeError(f"expected {k} to hold floating-point values, got dtype {v.dtype}")
            checks.finite(k, v)
            with np.errstate(over="ignore"):
                cast = v.astype(self.dtype)
            if not np.isfinite(cast).all():          # finite in float64, inf once cast to float32
                bad = tuple(int(i) for i in np.argwhere(~np.isfinite(cast))[0])
                raise ValueError(f"{k} value {float(v[bad])!r} at index {bad} overflows {self.dtype}")
            new[k] = cast
        for k, v in new.items():                     # all checked first: a bad dict changes nothing
            self._params[k][...] = v

    def zero_grad(self):
        for g in self.grads.values():
            g.fill(0)

    def _accumulate(self, name, g):
        if g is not None:
            self.grads[name] += g                    # shared weights: gradients add up, like torch

    def _grads_in_place(self, names):
        """``grads`` of ``names`` (None for a parameter a layer lacks, kept None), for a backward
        to add its gradients into as BLAS stores them (``accumulate=`` of the functional
        backwards); None if one of them cannot take that (``_grad_in_place``): then the
        backward returns fresh gradients and ``_accumulate`` adds them."""
        into = []
        for name in names:
            g = None if name is None else self._grad_in_place(name)
            if g is None and name is not None:
                return None
            into.append(g)
        return tuple(into)

    def _grad_in_place(self, name):
        """``grads[name]`` where a backward can add into it as BLAS stores its products (an
        ndarray of the parameter's shape and dtype, C-contiguous and writeable, as the module
        made it); None where it was replaced by another kind of array (then ``_accumulate``)."""
        g = self.grads.get(name)
        if (type(g) is np.ndarray and g.dtype == self.dtype and g.shape == self._params[name].shape
                and g.flags.c_contiguous and g.flags.writeable):
            return g
        return None

    # -- modes -------------------------------------------------------------------
    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _require_cache(self):
        if self._cache is None:
            raise ValueError(f"{type(self).__name__}.backward() called before forward(): "
                             "there is no forward pass to differentiate")
        return self._cache



def state_pair(name, value):
    """None -> (None, None); a 2-tuple/list passes; anything else is a clear TypeError."""
    if value is None:
        return (None, None)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (h, c) or None, got {type(value).__name__}"
                        + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""))
    return tuple(value)

