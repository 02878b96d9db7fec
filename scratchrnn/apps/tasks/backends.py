"""Two interchangeable engines for the training tasks: scratchrnn and its torch mirror.

A task is written once against this interface, so ``--backend torch`` runs the
same data, seed, initial weights (copied from the scratchrnn model) and
hyperparameters on torch (CUDA when available).

Loss kinds (what the head sees and what the target is):
- ``"ce_all"``:  logits at every step, targets int (T, N)       (character LM)
- ``"ce_last"``: logits at the last step, targets int (N,)      (MNIST rows)
- ``"mse_all"``: prediction at every step, targets (T, N, O)    (sine -> cosine)
"""

import numpy as np

import scratchrnn as sr
from scratchrnn import checks


def build_models(model, input_size, hidden, layers, out_size, dtype, seed, init="default"):
    """The scratchrnn core and head both backends start from.

    ``init="normal"`` redraws every weight from N(0, 0.01²) and zeroes the biases, as
    the from-scratch char-RNN tutorial does; ``"default"`` keeps torch's U(-1/√H, 1/√H).
    """
    kw = dict(num_layers=layers, dtype=dtype, seed=seed)
    core = sr.LSTM(input_size, hidden, **kw) if model == "lstm" else \
        sr.RNN(input_size, hidden, nonlinearity="relu" if model == "rnn_relu" else "tanh", **kw)
    head = sr.Linear(hidden, out_size, dtype=dtype, seed=None if seed is None else seed + 1)
    if init == "normal":
        rng = np.random.default_rng(seed)
        for m in (core, head):
            m.load_state_dict({k: (rng.normal(0, 0.01, v.shape) if k.startswith("weight")
                                   else np.zeros(v.shape)) for k, v in m.state_dict().items()})
    elif init != "default":
        raise ValueError(f"init must be 'default' or 'normal', got {init!r}")
    return core, head


def _loss(kind, pred, target):
    """``(loss, d_pred)`` of the task's loss kind (see the top) for the head's ``pred``."""
    if kind == "mse_all":
        return sr.mse_loss(pred, target)
    V = pred.shape[-1]
    value, d_pred = sr.cross_entropy(pred.reshape(-1, V), target.reshape(-1))
    return value, d_pred.reshape(pred.shape)


def _diverged(*arrays):
    """Whether any of the arrays (None: not computed) holds NaN or inf: after a refusal in a
    training step, a divergence rather than a caller's mistake."""
    return not all(a is None or checks.all_finite(a) for a in arrays)


def _state(arrays, key, like):
    """A checkpoint's optimizer state ``arrays[key]`` as a new C-ordered array of the shape and
    dtype of ``like`` (its parameter, or the state it replaces); one of another shape is refused
    by name (an update runs over every element of the parameter, and NumPy would broadcast)."""
    saved = arrays[key]
    if saved.shape != like.shape:
        raise ValueError(f"expected {key} of shape {like.shape}, as its parameter, got {saved.shape}")
    return np.array(saved, dtype=like.dtype, order="C")


class ScratchBackend:
    """scratchrnn modules, optimizer and clipping."""

    name = "scratch"

    def __init__(self, core, head, optimizer="sgd", lr=0.1, clip=None):
        self.core, self.head = core, head
        self.clip = clip
        self.opt = (sr.SGD if optimizer == "sgd" else sr.Adam)([core, head], lr=lr)
        self._d_out = None                   # the last-step loss's upstream gradient, kept (train_step)

    def train_step(self, x, target, state, loss):
        """One forward/backward/clip/update on x (T, N, I); returns (loss, final state, grad norm)."""
        self.core.train()
        out, state_n = self.core(x, state)                           # (T, N, H)
        feats = out[-1] if loss == "ce_last" else out                # (N, H) | (T, N, H)
        pred = None
        try:                  # the head and the loss refuse NaN and inf in what they are given
            pred = self.head(feats)
            value, d_pred = _loss(loss, pred, target)
        except ValueError:
            # Diverged, in the core or the head: let the task stop and say where. Each array is
            # scanned once, by the call it goes to (a char-LM's 4.6 MB of logits take 0.2 ms), and
            # again here after a refusal: where feats and pred are both finite, the refusal was no
            # divergence (a target out of range, say) and is raised to the caller.
            if not _diverged(feats, pred):
                raise
            return float("nan"), state_n, float("nan")
        d_feats = None
        try:          # the head and the core refuse NaN and inf in the gradient they are given
            d_feats = self.head.backward(d_pred)
            d_out = self._last_step_grad(out, d_feats) if loss == "ce_last" else d_feats
            # the data needs no gradient (as in torch) and the initial state's is dropped:
            # truncated BPTT across batches
            self.core.backward(d_out, input_grad=False)
        except ValueError:
            # Diverged in the backward: the loss's gradient, or the head's backward (its weights
            # grown large), overflowed. Reported as above, with nothing updated and no gradient
            # kept; with both gradients finite, the refusal had another cause and is raised.
            if not _diverged(d_pred, d_feats):
                raise
            self.opt.zero_grad()
            return float("nan"), state_n, float("nan")
        norm = sr.clip_grad_norm([self.core, self.head], self.clip if self.clip else np.inf)
        self.opt.step()
        self.opt.zero_grad()
        return float(value), state_n, norm

    def _last_step_grad(self, out, d_last):
        """The upstream gradient of ``out`` (T, N, H): ``d_last`` (N, H) at the last step, 0
        before. One array kept from step to step, of which only the last step is ever written:
        a new (T, N, H) array of zeros each step (1.4 MB for MNIST: 28 × 100 × 128 float32)
        could be fresh memory to fault in, depending on glibc's thresholds."""
        if self._d_out is None or self._d_out.shape != out.shape or self._d_out.dtype != out.dtype:
            self._d_out = np.zeros_like(out)
        self._d_out[-1] = d_last
        return self._d_out

    def predict(self, x, state=None):
        """Head outputs for x (T, N, I) in eval mode: (outputs (T, N, O), final state)."""
        self.core.eval()
        out, state_n = self.core(x, state)
        if not checks.all_finite(out):               # diverged: NaN, which train_step reports
            return np.full(out.shape[:-1] + (self.head.out_features,), np.nan, out.dtype), state_n
        return self.head(out), state_n

    def non_finite(self):
        """What holds NaN or inf among the weights and optimizer state, or None."""
        for i, (p, _) in enumerate(self.opt.pairs):
            if not np.isfinite(p).all():
                return f"weight {i} of the model became non-finite"
        extra = (self.opt.m + self.opt.v) if isinstance(self.opt, sr.Adam) else self.opt.buffers
        if not all(b is None or np.isfinite(b).all() for b in extra):
            return "the optimizer state became non-finite"
        return None

    def arrays(self):
        """Everything to checkpoint, as name -> array (weights and optimizer state)."""
        d = {f"core.{k}": v for k, v in self.core.state_dict().items()}
        d.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        if isinstance(self.opt, sr.Adam):
            d["opt.t"] = np.array(self.opt.t)
            d.update({f"opt.m{i}": m for i, m in enumerate(self.opt.m)})
            d.update({f"opt.v{i}": v for i, v in enumerate(self.opt.v)})
        else:
            d.update({f"opt.b{i}": b for i, b in enumerate(self.opt.buffers) if b is not None})
        return d

    def load_arrays(self, d):
        self.core.load_state_dict({k[5:]: v for k, v in d.items() if k.startswith("core.")})
        self.head.load_state_dict({k[5:]: v for k, v in d.items() if k.startswith("head.")})
        if isinstance(self.opt, sr.Adam):
            self.opt.t = int(d["opt.t"])
            for i, (m, v) in enumerate(zip(self.opt.m, self.opt.v)):
                m[...], v[...] = _state(d, f"opt.m{i}", m), _state(d, f"opt.v{i}", v)
        else:
            self.opt.buffers = [_state(d, f"opt.b{i}", p) if f"opt.b{i}" in d else None
                                for i, (p, _) in enumerate(self.opt.pairs)]


class TorchBackend:
    """The same model on torch (torch_ref converters), torch.optim and clip_grad_norm_."""

    name = "torch"

    def __init__(self, core, head, optimizer="sgd", lr=0.1, clip=None, device=None):
        import torch
        import torch_ref
        self.torch = torch
        self.device = device or torch_ref.default_device()
        self.core = torch_ref.to_torch(core, device=self.device)
        self.head = torch.nn.Linear(head.in_features, head.out_features,
                                    dtype=self.core.weight_hh_l0.dtype, device=self.device)
        with torch.no_grad():
            for k, v in head.state_dict().items():
                getattr(self.head, k).copy_(torch.from_numpy(v))
        self.params = list(self.core.parameters()) + list(self.head.parameters())
        self.clip = clip
        self.opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(self.params, lr=lr)
        self.lstm = isinstance(self.core, torch.nn.LSTM)

    def _t(self, a):
        return None if a is None else self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def _state_in(self, state):
        if state is None:
            return None
        return tuple(self._t(s) for s in state) if self.lstm else self._t(state)

    def _state_out(self, state):
        conv = lambda s: s.detach().cpu().numpy()                            # noqa: E731
        return tuple(conv(s) for s in state) if self.lstm else conv(state)

    def train_step(self, x, target, state, loss):
        F = self.torch.nn.functional
        self.core.train()
        out, state_n = self.core(self._t(x), self._state_in(state))
        pred = self.head(out[-1] if loss == "ce_last" else out)
        tgt = self._t(target)
        if loss == "mse_all":
            value = F.mse_loss(pred, tgt)
        else:
            value = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), tgt.reshape(-1))
        self.opt.zero_grad()
        value.backward()
        norm = self.torch.nn.utils.clip_grad_norm_(self.params, self.clip if self.clip else float("inf"))
        self.opt.step()
        return float(value.detach()), self._state_out(state_n), float(norm)

    def predict(self, x, state=None):
        self.core.eval()
        with self.torch.no_grad():
            out, state_n = self.core(self._t(x), self._state_in(state))
            return self.head(out).cpu().numpy(), self._state_out(state_n)

    def non_finite(self):
        torch = self.torch
        for i, p in enumerate(self.params):
            if not bool(torch.isfinite(p).all()):
                return f"weight {i} of the model became non-finite"
        for st in self.opt.state.values():
            if not all(bool(torch.isfinite(v).all()) for v in st.values() if torch.is_tensor(v)):
                return "the optimizer state became non-finite"
        return None

    def arrays(self):
        d = {f"core.{k}": v.detach().cpu().numpy() for k, v in self.core.state_dict().items()}
        d.update({f"head.{k}": v.detach().cpu().numpy() for k, v in self.head.state_dict().items()})
        for i, p in enumerate(self.params):
            for k, v in self.opt.state.get(p, {}).items():
                d[f"opt.{i}.{k}"] = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        return d

    def load_arrays(self, d):
        torch = self.torch
        with torch.no_grad():
            for k, v in self.core.state_dict().items():
                v.copy_(torch.from_numpy(d[f"core.{k}"]))
            for k, v in self.head.state_dict().items():
                v.copy_(torch.from_numpy(d[f"head.{k}"]))
        for i, p in enumerate(self.params):
            st = {k.split(".", 2)[2]: torch.from_numpy(np.array(v)).to(self.device)
                  for k, v in d.items() if k.startswith(f"opt.{i}.")}
            if st:
                if "step" in st:
                    st["step"] = st["step"].to("cpu", torch.float32)    # torch keeps step on CPU
                self.opt.state[p] = st


def make_backend(name, core, head, **kw):
    if name == "scratch":
        return ScratchBackend(core, head, **kw)
    if name == "torch":
        return TorchBackend(core, head, **kw)
    raise ValueError(f"backend must be 'scratch' or 'torch', got {name!r}")
