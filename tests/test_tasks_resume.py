"""Stopping and resuming: Ctrl-C / SIGTERM save the last completed step, ``--resume``
continues bit-identically (weights, optimizer state, every metric but wall time), the
progress bar starts at the true position and ``metrics.csv`` has one row per epoch.

Signals are sent to real runs in a subprocess once they have written progress; the
in-process tests raise the signal from inside a chosen training step, so that the
stop lands exactly there (inside an epoch, where the sampler position, the running
sums and the carried hidden state all have to be restored).
"""

import csv
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from scratchrnn.apps import cli
from scratchrnn.apps.tasks import backends, common
from scratchrnn.apps.tasks import checkpoint as ckpt

pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHARLM = ["charlm", "--max-chars", "200", "--hidden", "8", "--steps", "6", "--batch", "4",
          "--optimizer", "adam", "--lr", "0.01", "--clip", "0.5", "--pred-every", "2",
          "--pred-len", "5", "--save-every", "3", "--dtype", "float64"]     # 8 batches per epoch
SINE = ["sine", "--hidden", "6", "--model", "lstm", "--save-every", "7", "--dtype", "float64"]


def _rows(folder):
    with open(folder / common.METRICS) as f:
        return [{k: float(v) for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def assert_same_run(a, b):
    """Two run folders hold the same final checkpoint, bit for bit, and the same metrics."""
    wa, ma = ckpt.load(a / ckpt.CHECKPOINT)
    wb, mb = ckpt.load(b / ckpt.CHECKPOINT)
    assert (ma["epoch"], ma["step"], ma["finished"]) == (mb["epoch"], mb["step"], True)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    assert _rows(a) == _rows(b)
    key = next(iter(_rows(a)[0]))
    assert [r[key] for r in _rows(b)] == list(range(1, ma["epoch"] + 1))   # one row each


def _stop_at(monkeypatch, backend, call, signum=signal.SIGINT):
    """Deliver ``signum`` to this process during training step number ``call`` (1-based)."""
    cls = backends.ScratchBackend if backend == "scratch" else backends.TorchBackend
    real, calls = cls.train_step, []

    def step(self, *a, **k):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signum)               # arrives while the step runs
        return real(self, *a, **k)
    monkeypatch.setattr(cls, "train_step", step)
    return lambda: monkeypatch.setattr(cls, "train_step", real)


@pytest.mark.parametrize("backend", ["scratch", "torch"])
@pytest.mark.parametrize("task, total, call, sampler", [
    (CHARLM, 5, 8 * 3 + 5, "consecutive"),   # inside epoch 4, after its 5th batch; state carried
    (CHARLM, 5, 8 * 3, "random"),            # the last batch of epoch 3, before its checkpoint
    (SINE, 20, 11, None),                    # segment 11, between checkpoints (every 7)
])
def test_stop_inside_an_epoch_then_resume_is_exact(tmp_path, monkeypatch, capsys, backend, task,
                                                   total, call, sampler):
    if backend == "torch":
        pytest.importorskip("torch")
    n = "--segments" if task is SINE else "--epochs"
    args = ["train", *task, n, str(total), "--backend", backend] + \
        (["--sampler", sampler] if sampler else [])
    assert cli.main([*args, "--out", str(tmp_path / "straight")]) == 0
    restore = _stop_at(monkeypatch, backend, call)
    out = tmp_path / "stopped"
    assert cli.main([*args, "--out", str(out)]) == 130
    restore()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    _, meta = ckpt.load(out / ckpt.CHECKPOINT)
    per = 8 if task is CHARLM else 1
    assert meta["epoch"] * per + meta["step"] == call        # exactly the steps completed
    unit = "segment" if task is SINE else "epoch"
    where = (f"{unit} {meta['epoch'] + 1} up to step {meta['step']}" if meta["step"]
             else f"after {unit} {meta['epoch']}")
    assert err.startswith(f"stopped by SIGINT: saved {out / ckpt.CHECKPOINT} ({where}); ")
    again = shlex.split(err.split("continue with: ")[1])
    assert again[0] == "scratchrnn" and again[-1] == "--resume" and str(out) in again
    assert len(_rows(out)) == meta["epoch"]
    assert cli.main(again[1:]) == 0
    bar = f"{meta['epoch']}/{total} ["
    assert bar in capsys.readouterr().err                     # the bar starts where the run was
    assert_same_run(tmp_path / "straight", out)


def test_a_second_signal_stops_at_once_keeping_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    from scratchrnn.apps.tasks import session
    real = session.Session.save

    def slow_save(self, pos, finished=False):
        if pos.epoch == 2 and pos.step == 3:                  # the interrupt's own save
            os.kill(os.getpid(), signal.SIGTERM)              # a second signal arrives during it
        return real(self, pos, finished)
    monkeypatch.setattr(session.Session, "save", slow_save)
    _stop_at(monkeypatch, "scratch", 8 * 2 + 3)
    out = tmp_path / "run"
    assert cli.main(["train", *CHARLM, "--epochs", "5", "--out", str(out)]) == 143
    assert "stopped by a second SIGTERM before saving" in capsys.readouterr().err
    _, meta = ckpt.load(out / ckpt.CHECKPOINT)
    assert (meta["epoch"], meta["step"]) == (0, 0)            # the last one written: initial weights


def _wait_for(path, lines, proc, timeout=120):
    """Until ``path`` has ``lines`` lines (the run has made progress) or the process ended."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        if os.path.exists(path):
            with open(path) as f:
                if len(f.read().splitlines()) >= lines:
                    return
        time.sleep(0.01)
    raise AssertionError(f"{path} did not reach {lines} lines (process rc {proc.poll()})")


def _cli(argv, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "scratchrnn", *argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


@pytest.mark.parametrize("signum, backend, task", [
    (signal.SIGINT, "scratch", [*CHARLM, "--epochs", "100000"]),
    (signal.SIGTERM, "torch", [*CHARLM, "--epochs", "100000", "--sampler", "consecutive"]),
    (signal.SIGTERM, "scratch", [*SINE, "--segments", "100000"]),
])
def test_a_real_signal_saves_and_the_printed_command_resumes_exactly(tmp_path, signum, backend,
                                                                     task):
    if backend == "torch":
        pytest.importorskip("torch")
    args = ["train", *task, "--backend", backend]
    out = tmp_path / "stopped"
    proc = _cli([*args, "--out", str(out)])
    _wait_for(out / common.METRICS, 3, proc)                  # header and two finished epochs
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"stopped by {signal.Signals(signum).name}: saved ")
    again = shlex.split(line.split("continue with: ")[1])
    _, meta = ckpt.load(out / ckpt.CHECKPOINT)
    assert len(_rows(out)) == meta["epoch"] >= 2
    n = again.index("--epochs" if "--epochs" in again else "--segments") + 1
    again[n] = str(meta["epoch"] + 3)               # a short rest, so the test takes seconds
    res = _cli(again[1:])
    _, err = res.communicate(timeout=300)
    assert res.returncode == 0, err
    assert f"{meta['epoch']}/{again[n]} [" in err            # the bar resumed at the position
    args[args.index(again[n - 1]) + 1] = again[n]
    assert cli.main([*args, "--out", str(tmp_path / "straight")]) == 0
    assert_same_run(tmp_path / "straight", out)


@pytest.mark.filterwarnings("ignore::UserWarning")     # tiny IDX files fail the loader's md5 check (a warning)
@pytest.mark.parametrize("backend", ["scratch", "torch"])
def test_mnist_stopped_inside_an_epoch_resumes_exactly(tmp_path, monkeypatch, capsys, backend):
    from test_data_mnist import make_tiny_mnist
    if backend == "torch":
        pytest.importorskip("torch", reason="needs torch (not installed)")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    make_tiny_mnist(tmp_path / "data")
    args = ["train", "mnist", "--epochs", "3", "--batch", "2", "--hidden", "6", "--dtype", "float64",
            "--data-dir", str(tmp_path / "data"), "--backend", backend, "--save-every", "5"]
    assert cli.main([*args, "--out", str(tmp_path / "straight")]) == 0
    out = tmp_path / "stopped"
    from scratchrnn.apps import data
    n_batches = len(data.load_mnist(str(tmp_path / "data"), train=True)[0]) // 2
    restore = _stop_at(monkeypatch, backend, n_batches + 2, signal.SIGTERM)   # epoch 2, step 2
    assert cli.main([*args, "--out", str(out)]) == 143
    restore()
    _, meta = ckpt.load(out / ckpt.CHECKPOINT)
    assert (meta["epoch"], meta["step"]) == (1, 2)
    capsys.readouterr()
    assert cli.main([*args, "--out", str(out), "--resume"]) == 0
    assert f"2/{n_batches} [" in capsys.readouterr().err      # epoch 2's bar starts at step 2
    assert_same_run(tmp_path / "straight", out)
