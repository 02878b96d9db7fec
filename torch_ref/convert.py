"""Constructors that mirror scratchrnn on torch, and converters between the two.

``torch_ref.LSTM(3, 5, seed=1)`` builds ``scratchrnn.LSTM(3, 5, seed=1)`` and copies
its weights into an ``nn.LSTM`` on the default device, so both start from the same
numbers. scratchrnn is imported inside the functions that need it, so this module
imports even where scratchrnn is missing or half-built.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import nn

from .loop import LoopGRU, LoopLSTM, LoopRNN

__all__ = [
    "default_device", "as_tensor", "as_numpy", "to_torch", "to_scratch",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
]

# scratchrnn class name -> (torch class, config attributes read from the module).
# proj_size is handled on its own: scratchrnn may not have it yet.
_RECURRENT = ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
              "dropout", "bidirectional")
_KINDS = {
    "RNN": (nn.RNN, _RECURRENT + ("nonlinearity",)),
    "LSTM": (nn.LSTM, _RECURRENT),
    "GRU": (nn.GRU, _RECURRENT),
    "RNNCell": (nn.RNNCell, ("input_size", "hidden_size", "bias", "nonlinearity")),
    "LSTMCell": (nn.LSTMCell, ("input_size", "hidden_size", "bias")),
    "GRUCell": (nn.GRUCell, ("input_size", "hidden_size", "bias")),
}
# torch class -> scratchrnn class name; the Loop modules convert like their nn twins.
_TORCH_TO_NAME = [(nn.RNN, "RNN"), (nn.LSTM, "LSTM"), (nn.GRU, "GRU"),
                  (nn.RNNCell, "RNNCell"), (nn.LSTMCell, "LSTMCell"), (nn.GRUCell, "GRUCell"),
                  (LoopRNN, "RNN"), (LoopLSTM, "LSTM"), (LoopGRU, "GRU")]


def default_device() -> str:
    """Returns "cuda" if torch sees a GPU, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def as_tensor(a, device=None) -> torch.Tensor:
    """Returns ``a`` (NumPy array or tensor) as a tensor on ``device`` (None: default_device()).

    Keeps the dtype; on CPU it may share memory with ``a`` (read-only or
    negatively strided arrays are copied first, as torch cannot wrap them).
    """
    device = default_device() if device is None else device
    if isinstance(a, np.ndarray) and (not a.flags.writeable or any(s < 0 for s in a.strides)):
        a = a.copy()
    return torch.as_tensor(a, device=device)


def as_numpy(t) -> np.ndarray:
    """Returns ``t`` as a NumPy array: detached and moved to CPU if a tensor, else ``np.asarray(t)``."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def _dtypes(dtype) -> tuple[np.dtype, torch.dtype]:
    """Returns (numpy dtype, torch dtype) for a NumPy or torch floating dtype."""
    try:
        if isinstance(dtype, torch.dtype):
            np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        else:
            np_dtype = np.dtype(dtype)
        torch_dtype = torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype
    except (TypeError, RuntimeError) as e:
        raise TypeError(f"expected a NumPy or torch floating dtype, got {dtype!r}") from e
    if not torch_dtype.is_floating_point:
        raise TypeError(f"expected a floating dtype, got {dtype!r}")
    return np_dtype, torch_dtype


def _scratchrnn():
    """Returns the scratchrnn module, imported on first use."""
    try:
        import scratchrnn
    except ImportError as e:
        raise ImportError(f"torch_ref needs scratchrnn for this, and importing it failed: {e}") from e
    return scratchrnn


def _scratch_class(name: str):
    """Returns scratchrnn's class ``name``; NotImplementedError if scratchrnn has none yet."""
    cls = getattr(_scratchrnn(), name, None)
    if cls is None:
        raise NotImplementedError(f"scratchrnn has no {name} yet")
    return cls


def _accepts(cls, arg: str) -> bool:
    """Returns True if ``cls(...)`` takes keyword ``arg`` (True when the signature is unknown)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return True
    return arg in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _with_proj_size(cls, config: dict, proj_size: int) -> dict:
    """Returns config plus proj_size if the scratchrnn class takes it; ValueError if it is needed but missing."""
    if _accepts(cls, "proj_size"):
        return {**config, "proj_size": proj_size}
    if proj_size > 0:
        raise ValueError(f"proj_size={proj_size} is not supported: {cls.__module__}."
                         f"{cls.__qualname__} has no proj_size argument yet")
    return config


def _make_scratch(sr_cls, config: dict, **kw):
    """Returns ``sr_cls(**config, **kw)``; a NotImplementedError over proj_size becomes ValueError."""
    try:
        return sr_cls(**config, **kw)
    except NotImplementedError as e:
        if config.get("proj_size", 0) > 0:
            raise ValueError(f"proj_size={config['proj_size']} is not supported by "
                             f"{sr_cls.__qualname__} yet: {e}") from e
        raise


def _load_into_torch(module: nn.Module, state: dict) -> nn.Module:
    """Copies the arrays of ``state`` into ``module`` (strict names and shapes). Returns module."""
    params = dict(module.named_parameters())
    if set(state) != set(params):
        raise ValueError(f"expected parameters {sorted(params)}, got {sorted(state)}")
    with torch.no_grad():
        for name, value in state.items():
            value = as_tensor(np.asarray(value), device="cpu")
            if value.shape != params[name].shape:
                raise ValueError(f"expected {name} of shape {tuple(params[name].shape)}, "
                                 f"got {tuple(value.shape)}")
            params[name].copy_(value)
    return module


def to_torch(module, device=None) -> nn.Module:
    """Returns the torch.nn twin of a scratchrnn module (nn.RNN, nn.LSTM, nn.GRU or a cell).

    Same config, dtype and weights; placed on ``device`` (None: default_device()).
    TypeError if ``module`` is not a scratchrnn RNN, LSTM, GRU or cell.
    """
    sr = _scratchrnn()
    for name, (torch_cls, fields) in _KINDS.items():
        sr_cls = getattr(sr, name, None)
        if sr_cls is not None and isinstance(module, sr_cls):
            break
    else:
        raise TypeError("expected a scratchrnn RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell, "
                        f"got {type(module).__module__}.{type(module).__qualname__}")
    config = {f: getattr(module, f) for f in fields}
    if name == "LSTM":
        config["proj_size"] = int(getattr(module, "proj_size", 0) or 0)
    _, torch_dtype = _dtypes(module.dtype)
    device = default_device() if device is None else device
    twin = torch_cls(**config, device=device, dtype=torch_dtype)
    return _load_into_torch(twin, module.state_dict())


def to_scratch(module: nn.Module):
    """Returns the scratchrnn twin of a torch RNN, LSTM, GRU, cell, LoopRNN, LoopLSTM or LoopGRU.

    Config is read from the module's attributes, dtype from its parameters, and
    the weights are copied. TypeError for any other module type; ValueError for
    proj_size > 0 while scratchrnn's LSTM has no proj_size.
    """
    name = next((n for cls, n in _TORCH_TO_NAME if isinstance(module, cls)), None)
    if name is None:
        raise TypeError("expected torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, "
                        f"torch_ref.LoopRNN, LoopLSTM or LoopGRU, got {type(module).__module__}."
                        f"{type(module).__qualname__}")
    sr_cls = _scratch_class(name)
    _, fields = _KINDS[name]
    config = {f: getattr(module, f) for f in fields}
    if name == "LSTM":
        config = _with_proj_size(sr_cls, config, int(getattr(module, "proj_size", 0)))
    np_dtype, _ = _dtypes(next(module.parameters()).dtype)
    twin = _make_scratch(sr_cls, config, dtype=np_dtype)
    twin.load_state_dict({k: as_numpy(v) for k, v in module.state_dict().items()})
    return twin


def _build(name: str, config: dict, dtype, seed, device) -> nn.Module:
    """Returns to_torch(scratchrnn.<name>(**config, dtype, seed), device)."""
    np_dtype, _ = _dtypes(dtype)
    sr_cls = _scratch_class(name)
    if name == "LSTM":
        config = _with_proj_size(sr_cls, config, config.pop("proj_size"))
    return to_torch(_make_scratch(sr_cls, config, dtype=np_dtype, seed=seed), device=device)


def RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
        batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32,
        seed=None, device=None) -> nn.RNN:
    """Returns an nn.RNN with the weights of ``scratchrnn.RNN`` built from the same arguments and seed."""
    return _build("RNN", dict(input_size=input_size, hidden_size=hidden_size,
                              num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
                              batch_first=batch_first, dropout=dropout,
                              bidirectional=bidirectional), dtype, seed, device)


def LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
         dropout=0.0, bidirectional=False, proj_size=0, dtype=np.float32,
         seed=None, device=None, forget_bias=None) -> nn.LSTM:
    """Returns an nn.LSTM with the weights of ``scratchrnn.LSTM`` built from the same arguments and seed."""
    return _build("LSTM", dict(input_size=input_size, hidden_size=hidden_size,
                               num_layers=num_layers, bias=bias, batch_first=batch_first,
                               dropout=dropout, bidirectional=bidirectional,
                               proj_size=proj_size, forget_bias=forget_bias), dtype, seed, device)


def GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
        dropout=0.0, bidirectional=False, dtype=np.float32, seed=None, device=None) -> nn.GRU:
    """Returns an nn.GRU with the weights of ``scratchrnn.GRU`` built from the same arguments and seed."""
    return _build("GRU", dict(input_size=input_size, hidden_size=hidden_size,
                              num_layers=num_layers, bias=bias, batch_first=batch_first,
                              dropout=dropout, bidirectional=bidirectional), dtype, seed, device)


def RNNCell(input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=np.float32,
            seed=None, device=None) -> nn.RNNCell:
    """Returns an nn.RNNCell with the weights of ``scratchrnn.RNNCell`` built from the same arguments and seed."""
    return _build("RNNCell", dict(input_size=input_size, hidden_size=hidden_size, bias=bias,
                                  nonlinearity=nonlinearity), dtype, seed, device)


def LSTMCell(input_size, hidden_size, bias=True, dtype=np.float32, seed=None,
             device=None) -> nn.LSTMCell:
    """Returns an nn.LSTMCell with the weights of ``scratchrnn.LSTMCell`` built from the same arguments and seed."""
    return _build("LSTMCell", dict(input_size=input_size, hidden_size=hidden_size, bias=bias),
                  dtype, seed, device)



def GRUCell(input_size, hidden_size, bias=True, dtype=np.float32, seed=None,
            device=None) -> nn.GRUCell:
    """Returns an nn.GRUCell with the weights of ``scratchrnn.GRUCell`` built from the same arguments and seed."""
    return _build("GRUCell", dict(input_size=input_size, hidden_size=hidden_size, bias=bias),
                  dtype, seed, device)
