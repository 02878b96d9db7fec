"""The torch adapter: check a ``torch.nn.Module`` built like ``nn.RNN``/``nn.LSTM``/``nn.GRU``.

``--torch package.module:Class`` names the class. It is built with torch's constructor
arguments (``input_size, hidden_size, num_layers=, bias=, bidirectional=``, plus
``nonlinearity=`` for an RNN and ``proj_size=`` for an LSTM), in float64 on the CPU, given the
case's weights by their torch names, and run forward as ``nn.LSTM`` is: ``module(x, hx)``, with
a ``PackedSequence`` when the sequences have their own lengths. The gradients come from
autograd on ``L = Σ out·d_out + Σ h_n·d_h_n (+ Σ c_n·d_c_n)``. A class whose name or base says
``Cell`` (``nn.LSTMCell``) is checked on the single-step cases instead.
"""

import warnings

import numpy as np

from scratchrnn.apps.check.protocol import Target, UsageError, resolve


def torch_target(spec):
    """The ``Target`` for ``package.module:Class``; a UsageError without torch or for a non-Module."""
    try:
        import torch
    except ImportError:
        raise UsageError("--torch needs PyTorch, and it is not installed (pip install torch)") from None
    cls = resolve(spec)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise UsageError(f"expected {spec} to be a torch.nn.Module subclass, got {cls!r}")
    kind, cell = model_kind(cls)
    if kind is None:
        raise UsageError(f"cannot tell whether {cls.__name__} is an RNN, LSTM or GRU: subclass the torch "
                         "class or put RNN, LSTM or GRU in its name")

    def call(config, arrays):
        return _run(cls, config, arrays, torch)

    return Target(f"torch:{spec}", call,
                  applies=lambda c: c["kind"] == kind and (c["mode"] == "cell") == cell,
                  via=lambda c: cls.__name__)


def model_kind(cls):
    """("lstm" | "gru" | "rnn" | None, is_cell) from the torch base class, else from the name."""
    import torch.nn as nn
    for base, kind, cell in ((nn.LSTM, "lstm", False), (nn.GRU, "gru", False), (nn.RNN, "rnn", False),
                             (nn.LSTMCell, "lstm", True), (nn.GRUCell, "gru", True), (nn.RNNCell, "rnn", True)):
        if issubclass(cls, base):
            return kind, cell
    name = cls.__name__.lower()
    for kind in ("lstm", "gru", "rnn"):
        if kind in name:
            return kind, "cell" in name
    return None, False


def _run(cls, config, arrays, torch):
    kw = {"bias": config["bias"]}
    if config["kind"] == "rnn":
        kw["nonlinearity"] = config["nonlinearity"]
    if config["mode"] == "sequence":
        kw.update(num_layers=config["num_layers"], bidirectional=config["bidirectional"])
        if config["proj_size"]:
            kw["proj_size"] = config["proj_size"]
    dtype = torch.float64 if arrays["x"].dtype == np.float64 else torch.float32
    module = cls(config["input_size"], config["hidden_size"], **kw).to(dtype)
    params = dict(module.named_parameters())
    want = sorted(k for k in arrays if k.startswith(("weight_", "bias_")))
    if sorted(params) != want:
        raise ValueError(f"{cls.__name__} has parameters {sorted(params)}, expected torch's {want}")
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(torch.from_numpy(arrays[k]))
    t = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()
         if k in ("x", "h0", "c0")}
    lstm = config["kind"] == "lstm"
    hx = (t["h0"], t["c0"]) if lstm and "h0" in t else t.get("h0")
    res = {}
    if config["mode"] == "cell":
        fin = module(t["x"], hx)
        outs = {"h_n": fin[0], "c_n": fin[1]} if lstm else {"h_n": fin}
    else:
        x = t["x"]
        if "lengths" in arrays:
            from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
            x = pack_padded_sequence(x, torch.from_numpy(arrays["lengths"]), enforce_sorted=False)
        with warnings.catch_warnings():      # torch notes that proj_size takes its slower path
            warnings.filterwarnings("ignore", message="LSTM with projections")
            out, fin = module(x, hx)
        if "lengths" in arrays:
            out, _ = pad_packed_sequence(out, total_length=arrays["x"].shape[0])
        outs = {"out": out, "h_n": fin[0], "c_n": fin[1]} if lstm else {"out": out, "h_n": fin}
    loss = sum((v * torch.from_numpy(arrays["d_" + k])).sum() for k, v in outs.items())
    loss.backward()
    res.update({k: v.detach().numpy() for k, v in outs.items()})
    res.update({f"grad_{k}": v.grad.numpy() for k, v in t.items() if v.grad is not None})
    res.update({f"grad_{k}": p.grad.numpy() for k, p in params.items() if p.grad is not None})
    return res

