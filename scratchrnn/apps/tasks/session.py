"""One training run's position in its run folder: start or resume, checkpoint, stop.

A task asks :class:`Session` where to start, reports every completed step through
:meth:`Session.step_done` (which stops the run on a non-finite value or on Ctrl-C /
SIGTERM) and saves at epoch ends with :meth:`Session.save`. The position is
``epoch`` completed epochs plus ``step`` batches of the next one; a checkpoint taken
inside an epoch also holds the random-generator state from that epoch's start, the
running sums and the carried hidden state, so a resumed run repeats the same batches
and ends bit-identical to one that was never stopped.
"""

import os
from dataclasses import dataclass, field

import numpy as np

from scratchrnn.apps.tasks import checkpoint as ckpt
from scratchrnn.apps.tasks.common import fixed_settings
from scratchrnn.apps.tasks.interrupt import Interrupted, StopOnSignal


@dataclass
class Position:
    """Where a run stands: ``epoch`` epochs done, ``step`` batches of the next one done."""
    epoch: int = 0
    step: int = 0
    rng: object = None          # Generator, or its state dict at the start of epoch + 1 when step > 0
    sums: dict = field(default_factory=dict)    # running sums of the unfinished epoch
    state: object = None        # carried hidden state (None, h or (h, c))


class Session:
    def __init__(self, config, backend, extra_arrays=None):
        self.config, self.backend = config, backend
        self.folder = config["out"]
        self.path = os.path.join(self.folder, ckpt.CHECKPOINT)
        self.extra = dict(extra_arrays or {})          # saved with every checkpoint (vocabulary)
        self.stop = StopOnSignal()
        self.saved_at = None                           # "epoch 3" / "epoch 3, step 7"

    def __enter__(self):
        # overflow is caught by step_done's checks and reported once, not as NumPy warnings
        self._errstate = np.errstate(over="ignore", invalid="ignore")
        self._errstate.__enter__()
        self.stop.__enter__()
        return self

    def __exit__(self, *exc):
        self.stop.__exit__(*exc)
        return self._errstate.__exit__(*exc)

    # ------------------------------------------------------------ start
    def begin(self, total, seed):
        """The position to start from; a fresh run first saves its initial weights (epoch 0)."""
        if not self.config["resume"]:
            pos = Position(rng=np.random.default_rng(seed))
            self.save(pos)
            return pos
        arrays, meta = ckpt.load(self.path)
        ckpt.check_matches(meta, self.config, fixed_settings(self.config), self.folder)
        expected = {**{k: v for k, v in self.backend.arrays().items() if not k.startswith("opt.")},
                    **self.extra}
        ckpt.check_arrays(arrays, expected, self.path)
        for k, v in self.extra.items():
            if not np.array_equal(arrays[k], v):
                raise ckpt.CheckpointError(f"--resume: the checkpoint's {k} differs from this "
                                           f"command's ({len(arrays[k])} entries against {len(v)})")
        try:
            self.backend.load_arrays(arrays)
        except (KeyError, ValueError, RuntimeError) as e:
            raise ckpt.CheckpointError(f"{self.path}: the optimizer state does not fit: {e}") from None
        done, step = int(meta["epoch"]), int(meta.get("step", 0))
        if done >= total:
            unit = "segments" if self.config["task"] == "sine" else "epochs"
            raise ckpt.CheckpointError(f"--resume: the run in {self.folder} has done {done} {unit} "
                                       f"already; give --{unit} more than {done} to train longer")
        rng = ckpt.restore_rng(meta["rng"]) if meta.get("rng") else None
        self.saved_at = self._where(done, step)
        return Position(done, step, rng, dict(meta.get("sums", {})), ckpt.state_from(arrays))

    # ------------------------------------------------------------ during
    def step_done(self, loss, pos, n_steps, stop_here=True):
        """After a completed update (``pos`` counts it): stop on NaN/inf, or on a signal.

        With ``stop_here`` a signal saves ``pos`` and stops; without it the caller looks
        for a signal itself (:meth:`check_stop`) once the step is recorded.
        """
        problem = None
        if not np.isfinite(loss):
            problem = f"the loss became {loss}"
        else:
            problem = self.backend.non_finite()
            if problem is None and pos.state is not None:
                parts = pos.state if isinstance(pos.state, tuple) else (pos.state,)
                if not all(np.isfinite(s).all() for s in parts):
                    problem = "the carried hidden state became non-finite"
        if problem:
            unit = "segment" if self.config["task"] == "sine" else "epoch"
            where = (f"segment {pos.epoch}" if unit == "segment"
                     else f"epoch {pos.epoch + 1}, step {pos.step} of {n_steps}")
            raise ckpt.Diverged(f"training diverged at {where}: {problem}; stopped. The last good "
                                f"checkpoint is {self.path} ({self.saved_at}); try a smaller --lr "
                                f"or a --clip")
        if stop_here and self.stop.signum is not None:
            self.interrupt(pos)

    def interrupt(self, pos):
        """Save ``pos`` and raise :class:`Interrupted`."""
        self.save(pos)
        raise Interrupted(self.stop.signum, self.saved_at, self.path)

    def check_stop(self, pos):
        """At an epoch boundary: save and stop if a signal arrived."""
        if self.stop.signum is not None:
            self.interrupt(pos)

    # ------------------------------------------------------------ saving
    def save(self, pos, finished=False):
        meta = {"task": self.config["task"], "epoch": pos.epoch, "step": pos.step,
                "config": self.config, "finished": finished, "sums": pos.sums,
                "rng": pos.rng if isinstance(pos.rng, dict) or pos.rng is None
                else ckpt.rng_state(pos.rng)}
        arrays = {**self.backend.arrays(), **self.extra, **ckpt.state_arrays(pos.state)}
        ckpt.save(self.path, arrays, meta)
        self.saved_at = self._where(pos.epoch, pos.step)

    def _where(self, epoch, step):
        unit = "segment" if self.config["task"] == "sine" else "epoch"
        if step:
            return f"{unit} {epoch + 1} up to step {step}"
        return f"after {unit} {epoch}" if epoch else "the initial weights"
