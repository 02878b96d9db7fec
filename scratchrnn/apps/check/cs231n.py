"""The CS231n adapter: check a module of CS231n-style ``rnn_layers`` functions against the suite.

CS231n's layout is batch-first, ``x (N, T, D)``, ``Wx (D, G·H)``, ``Wh (H, G·H)``, one bias
``b (G·H,)``, and the LSTM gate order is **i, f, o, g** (torch's is i, f, g, o). The adapter
converts each case it can express, calls whichever of these the module defines, and converts
the gradients back to torch's layout, so the comparison and the diagnosis are the suite's:

- cells: ``rnn_step_forward(x, prev_h, Wx, Wh, b) -> (next_h, cache)``,
  ``rnn_step_backward(dnext_h, cache) -> (dx, dprev_h, dWx, dWh, db)``,
  ``lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b) -> (next_h, next_c, cache)``,
  ``lstm_step_backward(dnext_h, dnext_c, cache) -> (dx, dprev_h, dprev_c, dWx, dWh, db)``;
- sequences: ``rnn_forward(x, h0, Wx, Wh, b) -> (h, cache)``,
  ``rnn_backward(dh, cache) -> (dx, dh0, dWx, dWh, db)``, and the same for ``lstm_*``;
- ``temporal_softmax_loss(x, y, mask) -> (loss, dx)``.

What CS231n cannot express is skipped, with the reason: GRUs, relu, several layers, two
directions, variable lengths, ``proj_size``; an LSTM sequence needs c0 = 0 and no gradient on
``c_n`` (``lstm_forward`` starts from a zero cell and returns only ``h``). ``b`` is
``b_ih + b_hh``; its gradient is compared with each of theirs (they are equal for the RNN and
LSTM, (R8)). The final-state gradient ``d_h_n`` of an RNN or LSTM sequence is added to
``dh[:, -1]``, since ``h_n`` is the last output.
"""

import numpy as np

from scratchrnn.apps.check.protocol import Target, UsageError, import_module

FUNCTIONS = ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
             "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
             "temporal_softmax_loss")
PAIRS = {("rnn", "cell"): ("rnn_step_forward", "rnn_step_backward"),
         ("rnn", "sequence"): ("rnn_forward", "rnn_backward"),
         ("lstm", "cell"): ("lstm_step_forward", "lstm_step_backward"),
         ("lstm", "sequence"): ("lstm_forward", "lstm_backward"),
         ("softmax", "loss"): ("temporal_softmax_loss",)}
TO_CS231N = [0, 1, 3, 2]          # torch blocks (i, f, g, o) -> CS231n's (i, f, o, g); its own inverse
NAMES = {"x": "x", "out": "h", "h_n": "h[:, -1]", "grad_x": "dx", "grad_h0": "dh0", "grad_c0": "dc0",
         "grad_weight_ih": "dWx", "grad_weight_hh": "dWh", "grad_bias_ih": "db", "grad_bias_hh": "db",
         "grad_weight_ih_l0": "dWx", "grad_weight_hh_l0": "dWh", "grad_bias_ih_l0": "db",
         "grad_bias_hh_l0": "db", "grad_logits": "dx", "loss": "loss", "c_n": "next_c"}


def cs231n_target(module_name):
    """The ``Target`` for a module of CS231n functions; a UsageError when it defines none."""
    module = import_module(module_name)
    have = {name: getattr(module, name) for name in FUNCTIONS if callable(getattr(module, name, None))}
    pairs = {key: fns for key, fns in PAIRS.items() if all(f in have for f in fns)}
    half = [f for key, fns in PAIRS.items() if key not in pairs for f in fns if f in have]
    if half:
        raise UsageError(f"module {module_name!r} defines {', '.join(half)} without its partner: "
                         f"a forward needs its backward ({', '.join(' / '.join(p) for p in PAIRS.values())})")
    if not pairs:
        raise UsageError(f"module {module_name!r} defines none of CS231n's functions "
                         f"({', '.join(FUNCTIONS)})")

    def call(config, arrays):
        kind, mode = config["kind"], config["mode"]
        why = unsupported(config, arrays)
        if why:
            raise NotImplementedError(why)
        fns = [have[f] for f in pairs[(kind, mode)]]
        if kind == "softmax":
            return _softmax(fns[0], arrays)
        return (_cell if mode == "cell" else _sequence)(kind, fns, arrays, config)

    return Target(f"cs231n:{module_name}", call,
                  applies=lambda config: (config["kind"], config["mode"]) in pairs,
                  names=NAMES, gate_order={"lstm": ("i", "f", "o", "g")},
                  via=lambda config: " / ".join(pairs.get((config["kind"], config["mode"]), ())),
                  layout="cs231n")


def unsupported(config, arrays):
    """Why CS231n's functions cannot express this case, or ''."""
    if config["kind"] == "softmax":
        return ""
    if config["kind"] == "rnn" and config["nonlinearity"] != "tanh":
        return "CS231n's RNN is tanh only"
    if config["mode"] == "cell":
        return ""
    if config["num_layers"] != 1:
        return f"CS231n's {config['kind']}_forward runs one layer"
    if config["bidirectional"]:
        return f"CS231n's {config['kind']}_forward runs one direction"
    if config.get("proj_size"):
        return "CS231n's LSTM has no proj_size"
    if "lengths" in arrays:
        return "CS231n's sequences all have length T"
    if config["kind"] == "lstm":
        for key in ("c0", "d_c_n"):
            if key in arrays and np.any(arrays[key]):
                return ("CS231n's lstm_forward starts from c0 = 0" if key == "c0" else
                        "CS231n's lstm_backward takes no gradient on the final cell state")
    return ""


def to_cs231n(w, G):
    """A torch weight (G·H, F) -> CS231n's (F, G·H) with its gate order; a bias (G·H,) -> (G·H,)."""
    H = w.shape[0] // G
    blocks = w.reshape((G, H) + w.shape[1:])
    if G == 4:
        blocks = blocks[TO_CS231N]
    w = blocks.reshape(w.shape)
    return np.ascontiguousarray(w.T)


def from_cs231n(dw, G):
    """CS231n's (F, G·H) or (G·H,) gradient -> torch's (G·H, F) or (G·H,)."""
    return to_cs231n(np.asarray(dw).T, G).T if np.ndim(dw) == 2 else to_cs231n(np.asarray(dw), G)


def _weights(kind, arrays, sfx):
    G = 4 if kind == "lstm" else 1
    w_ih, w_hh = arrays["weight_ih" + sfx], arrays["weight_hh" + sfx]
    b = arrays["bias_ih" + sfx] + arrays["bias_hh" + sfx] if "bias_ih" + sfx in arrays \
        else np.zeros(w_ih.shape[0], w_ih.dtype)
    return G, to_cs231n(w_ih, G), to_cs231n(w_hh, G), to_cs231n(b, G)


def _grads(res, G, dWx, dWh, db, sfx, with_bias):
    res["grad_weight_ih" + sfx] = from_cs231n(dWx, G)
    res["grad_weight_hh" + sfx] = from_cs231n(dWh, G)
    if with_bias:
        res["grad_bias_ih" + sfx] = res["grad_bias_hh" + sfx] = from_cs231n(db, G)
    return res


def _cell(kind, fns, a, config):
    forward, backward = fns
    G, Wx, Wh, b = _weights(kind, a, "")
    x = a["x"]
    N, H = x.shape[0], config["hidden_size"]
    h = a.get("h0", np.zeros((N, H), x.dtype))
    res = {}
    if kind == "lstm":
        c = a.get("c0", np.zeros((N, H), x.dtype))
        res["h_n"], res["c_n"], cache = forward(x, h, c, Wx, Wh, b)
        dx, dh, dc, dWx, dWh, db = backward(a["d_h_n"], a["d_c_n"], cache)
        res["grad_c0"] = dc
    else:
        res["h_n"], cache = forward(x, h, Wx, Wh, b)
        dx, dh, dWx, dWh, db = backward(a["d_h_n"], cache)
    res["grad_x"], res["grad_h0"] = dx, dh
    return _grads(res, G, dWx, dWh, db, "", "bias_ih" in a)


def _sequence(kind, fns, a, config):
    forward, backward = fns
    G, Wx, Wh, b = _weights(kind, a, "_l0")
    x = np.ascontiguousarray(a["x"].transpose(1, 0, 2))             # (N, T, D)
    N, H = x.shape[0], config["hidden_size"]
    h0 = a["h0"][0] if "h0" in a else np.zeros((N, H), x.dtype)    # (N, H)
    h, cache = forward(x, h0, Wx, Wh, b)                             # (N, T, H)
    dh = a["d_out"].transpose(1, 0, 2).copy()                        # (N, T, H)
    dh[:, -1] += a["d_h_n"][0]                                       # h_n is the last output
    dx, dh0, dWx, dWh, db = backward(dh, cache)
    h = np.asarray(h)
    res = {"out": h.transpose(1, 0, 2), "h_n": h[:, -1][None], "grad_x": np.asarray(dx).transpose(1, 0, 2),
           "grad_h0": np.asarray(dh0)[None]}
    if kind == "lstm":
        res["__skipped__"] = {"c_n": "lstm_forward returns no cell state",
                              "grad_c0": "lstm_backward returns no dc0"}
    return _grads(res, G, dWx, dWh, db, "_l0", "bias_ih_l0" in a)


def _softmax(loss_fn, a):
    x = np.ascontiguousarray(a["logits"].transpose(1, 0, 2))        # (N, T, V)
    loss, dx = loss_fn(x, a["targets"].T.copy(), a["mask"].T.copy())
    return {"loss": np.asarray(loss, dtype=np.float64), "grad_logits": np.asarray(dx).transpose(1, 0, 2)}
