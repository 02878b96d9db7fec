"""A gallery of classic BPTT bugs, each one line away from a correct implementation.

Every ``Bug`` names a correct file of this folder (``cs231n_ok.py``, a CS231n-style
``rnn_layers``, or ``numpy_rnn.py``, a protocol-style target), the line it breaks and what it
puts there. ``materialise(bug, folder)`` writes the broken module, importable by its name, so
that ``scratchrnn check`` can be run on it like on any user's file. The tests assert the
diagnosis ``check`` gives for each: which tensors, which gate blocks, which step, which kind.
"""

import pathlib
from typing import NamedTuple

HERE = pathlib.Path(__file__).resolve().parent


class Bug(NamedTuple):
    name: str                # also the module name it is written as
    base: str                # the correct file it breaks
    old: str                 # the correct line (must occur exactly once)
    new: str                 # the broken line
    what: str


BUGS = {b.name: b for b in [
    Bug("forget_derivative", "cs231n_ok.py",
        "di, df, dg = dc * g, dc * cache.prev_c, dc * i",
        "di, df, dg = dc * g, dc * cache.next_c, dc * i",
        "the forget gate's derivative takes c_t instead of c_{t-1} (L8)"),
    Bug("no_dc_carry", "cs231n_ok.py",
        "lstm_step_backward(dh[:, t] + dprev_h, dprev_c, caches[t])",
        "lstm_step_backward(dh[:, t] + dprev_h, np.zeros_like(dprev_c), caches[t])",
        "the cell gradient dc is not carried to the previous step (L7), (L9)"),
    Bug("tanh_of_preactivation", "cs231n_ok.py",
        "da = dnext_h * (1 - cache.next_h ** 2)          # backprop through tanh, from its output",
        "da = dnext_h * (1 - cache.a ** 2)               # tanh' taken from the pre-activation",
        "tanh' computed as 1 - a² from the pre-activation instead of 1 - h² (R4)"),
    Bug("swapped_gate_blocks", "cs231n_ok.py",
        "da = np.hstack((dai, daf, dao, dag))            # (N, 4H) in the order i, f, o, g",
        "da = np.hstack((dai, daf, dag, dao))            # (N, 4H) o and g in the wrong order",
        "the o and g blocks of da are stacked in the wrong order"),
    Bug("overwritten_not_accumulated", "cs231n_ok.py",
        "dWx += dWx_t                                # weights are shared over time: sum",
        "dWx = dWx_t                                 # overwritten: only the first step is kept",
        "dWx is overwritten at every step instead of summed over time (fact 3)"),
    Bug("softmax_no_max_shift", "cs231n_ok.py",
        "shifted = x_flat - np.max(x_flat, axis=1, keepdims=True)             # (N·T, V) max is 0",
        "shifted = x_flat                                                      # no max-shift",
        "softmax without subtracting the row max: exp overflows for large scores"),
    Bug("dc_prev_without_forget", "cs231n_ok.py",
        "dprev_c = dc * f",
        "dprev_c = dc",
        "the cell gradient passed back skips the forget gate (L9)"),
    Bug("bias_hh_dropped", "numpy_rnn.py",
        'g["bias_hh"] = da.sum(axis=(0, 1))',
        'g["bias_hh"] = np.zeros_like(w["bias_hh"])',
        "the gradient of bias_hh is dropped (R8)"),
    Bug("h_prev_off_by_one", "numpy_rnn.py",
        'g["weight_hh"] = da.reshape(-1, H).T @ h[:-1].reshape(-1, H)     # (R7) pairs da_t with h_{t-1}',
        'g["weight_hh"] = da.reshape(-1, H).T @ h[1:].reshape(-1, H)      # h_t where h_{t-1} belongs',
        "dW_hh pairs da_t with h_t instead of h_{t-1} (R7)"),
    Bug("reverse_not_realigned", "numpy_rnn.py",
        "d_out = d_out if d == 0 else d_out[::-1]                     # (S2) into the direction's own time",
        "d_out = d_out                                                # the reverse half is not flipped",
        "the reverse direction's upstream gradient is not flipped into its own time (S2)"),
]}


def lstm_from_steps(module):
    """A protocol target for one-layer LSTM sequences, looping over a module's CS231n step functions.

    Unlike CS231n's ``lstm_forward`` it starts from any (h0, c0) and takes a gradient on c_n, so
    ``check`` can run it from any step and tell a wrong ``dh_t`` from a wrong ``dc_t``.
    """
    import numpy as np

    from scratchrnn.apps.check.cs231n import from_cs231n, to_cs231n

    def run(config, a):
        if config["kind"] != "lstm" or config["mode"] != "sequence" or config["num_layers"] != 1 \
                or config["bidirectional"] or config["proj_size"] or "lengths" in a or not config["bias"]:
            raise NotImplementedError("one-layer, one-direction LSTM sequences with biases only")
        Wx, Wh = to_cs231n(a["weight_ih_l0"], 4), to_cs231n(a["weight_hh_l0"], 4)
        b = to_cs231n(a["bias_ih_l0"] + a["bias_hh_l0"], 4)
        T, N, _ = a["x"].shape
        H = config["hidden_size"]
        h, c = a.get("h0", np.zeros((1, N, H)))[0], a.get("c0", np.zeros((1, N, H)))[0]
        out, caches = [], []
        for t in range(T):
            h, c, cache = module.lstm_step_forward(a["x"][t], h, c, Wx, Wh, b)
            out.append(h)
            caches.append(cache)
        dh, dc = a["d_h_n"][0], a["d_c_n"][0]
        dx, dWx, dWh, db = [None] * T, 0, 0, 0
        for t in reversed(range(T)):
            dx[t], dh, dc, dWx_t, dWh_t, db_t = module.lstm_step_backward(a["d_out"][t] + dh, dc, caches[t])
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        res = {"out": np.stack(out), "h_n": h[None], "c_n": c[None], "grad_x": np.stack(dx),
               "grad_h0": dh[None], "grad_c0": dc[None], "grad_weight_ih_l0": from_cs231n(dWx, 4),
               "grad_weight_hh_l0": from_cs231n(dWh, 4)}
        res["grad_bias_ih_l0"] = res["grad_bias_hh_l0"] = from_cs231n(db, 4)
        return res

    return run


def source(bug):
    """The broken module's source: the correct file with exactly one line changed."""
    text = (HERE / bug.base).read_text()
    if text.count(bug.old) != 1:
        raise AssertionError(f"{bug.name}: expected the line {bug.old!r} exactly once in {bug.base}, "
                             f"found it {text.count(bug.old)} times")
    return text.replace(bug.old, bug.new)


def materialise(bug, folder):
    """Write the broken module as ``folder/<bug.name>.py``; returns its path."""
    path = pathlib.Path(folder) / f"{bug.name}.py"
    path.write_text(source(bug))
    return path
