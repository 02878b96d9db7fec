"""Ctrl-C (SIGINT) and SIGTERM during training: finish the step, save, stop.

Inside :class:`StopOnSignal` the first signal only sets ``signum``; the training loop
looks at it after every step, writes a checkpoint of the step it just completed and
raises :class:`Interrupted`, which the command line turns into one line and exit code
128 + signal (130 for SIGINT, 143 for SIGTERM). A second signal stops at once, keeping
the last checkpoint written.
"""

import signal
import threading


class Interrupted(Exception):
    """Training stopped by a signal; ``saved`` is the checkpoint written (or None)."""

    def __init__(self, signum, where=None, saved=None):
        self.signum, self.where, self.saved = signum, where, saved
        super().__init__(f"{signal.Signals(signum).name} {where or ''}".strip())

    @property
    def exit_code(self):
        return 128 + self.signum


class StopOnSignal:
    """Context manager: SIGINT/SIGTERM set ``signum`` instead of stopping mid-step."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = None
        self._old = {}

    def _handle(self, signum, frame):
        if self.signum is not None:            # the second one: stop now
            raise Interrupted(signum)
        self.signum = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}
        return False
