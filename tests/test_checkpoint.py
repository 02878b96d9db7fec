"""scratchrnn.checkpoint: atomic .npz saves that clean up after killed ones, loads without pickle."""

import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest

from scratchrnn import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _arrays():
    rng = np.random.default_rng(0)
    return {"weight_ih_l0": rng.standard_normal((8, 3)).astype(np.float32),
            "step": np.array(7), "codes": np.array([97, 20320], np.uint32),
            "meta": np.array('{"epoch": 2, "note": "周杰伦"}'), "empty": np.zeros((0, 4)),
            "file": np.arange(3), "allow_pickle": np.array([True, False])}   # np.savez's own argument names


def test_round_trip_keeps_names_dtypes_and_values(tmp_path):
    path = tmp_path / "sub" / "ckpt.npz"                  # the folder is created
    arrays = _arrays()
    checkpoint.save(path, arrays)
    got = checkpoint.load(path)
    assert list(got) == list(arrays)
    for k, a in arrays.items():
        assert got[k].dtype == a.dtype and got[k].shape == a.shape, k
        np.testing.assert_array_equal(got[k], a, err_msg=k)
    with np.load(path, allow_pickle=False) as z:         # an ordinary .npz, readable with NumPy alone
        assert sorted(z.files) == sorted(arrays)
    assert os.listdir(path.parent) == ["ckpt.npz"]


_KILLED_SAVE = """
import os, signal, sys
import numpy as np
from scratchrnn import checkpoint
def die(src, dst):                      # killed after writing the temp file, before the rename
    os.kill(os.getpid(), signal.SIGKILL)
os.replace = die
checkpoint.save(sys.argv[1], {"w": np.full(3, 2.0)})
"""


def _killed_save(path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path)], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL


def test_a_killed_save_leaves_the_old_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"w": np.full(3, 1.0)})
    _killed_save(path)
    first = sorted(f for f in os.listdir(tmp_path) if f != "ckpt.npz")
    assert len(first) == 1 and first[0].startswith(".ckpt.npz.") and first[0].endswith(".tmp")
    _killed_save(path)                                    # removes the first one's temp, leaves its own
    leftovers = sorted(f for f in os.listdir(tmp_path) if f != "ckpt.npz")
    assert len(leftovers) == 1 and leftovers != first
    np.testing.assert_array_equal(checkpoint.load(path)["w"], np.full(3, 1.0))   # old content intact
    other = tmp_path / "other.npz"
    checkpoint.save(other, {"w": np.zeros(1)})
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".tmp")) == leftovers   # not its temps
    checkpoint.save(path, {"w": np.full(3, 3.0)})
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz", "other.npz"]
    np.testing.assert_array_equal(checkpoint.load(path)["w"], np.full(3, 3.0))


def test_temp_files_of_a_live_save_are_kept(tmp_path):
    path = tmp_path / "ckpt.npz"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".ckpt.npz.{sleeper.pid}.abcd1234.tmp"      # a save still writing
        live.write_bytes(b"partial")
        mine = tmp_path / f".ckpt.npz.{os.getpid()}.abcd1234.tmp"      # another thread of this process
        mine.write_bytes(b"partial")
        unrelated = tmp_path / ".ckpt.npz.notes.tmp"
        unrelated.write_bytes(b"keep")
        assert checkpoint.remove_stale(path) == []
        checkpoint.save(path, {"w": np.zeros(2)})
        assert live.exists() and mine.exists() and unrelated.exists()
        old = os.path.getmtime(live) - checkpoint.STALE_SECONDS - 60
        os.utime(live, (old, old))                                     # a day old: stale whoever holds it
        assert checkpoint.remove_stale(path) == [str(live)]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_load_refuses_pickles_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoint.load(tmp_path / "missing.npz")
    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([{"x": 1}], dtype=object))           # needs pickle to load
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(pickle.dumps({"a": 1}))
    good = tmp_path / "good.npz"
    checkpoint.save(good, _arrays())
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    flipped = tmp_path / "flipped.npz"
    blob = bytearray(good.read_bytes())
    at = blob.index(_arrays()["weight_ih_l0"].tobytes()[:16])
    blob[at] ^= 0xFF                                                  # fails the member's CRC-32
    flipped.write_bytes(bytes(blob))
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    text = tmp_path / "text.npz"
    text.write_text("not a checkpoint")
    for path, words in [(objects, "pickle"), (pickled, "pickle"), (truncated, "not a readable"),
                        (flipped, "CRC"), (single, "single .npy"), (text, "")]:
        with pytest.raises(checkpoint.CheckpointError) as info:
            checkpoint.load(path)
        assert isinstance(info.value, ValueError) and str(path) in str(info.value)
        assert words in str(info.value), str(info.value)


@pytest.mark.parametrize("arrays, kind, words", [
    ([("w", np.zeros(2))], TypeError, "dict"),
    ({"w": [1.0, 2.0]}, TypeError, "'w' as a numpy.ndarray, got list"),
    ({"w": np.array([None])}, TypeError, "dtype object"),
    ({3: np.zeros(2)}, ValueError, "got 3"),
    ({"a/b": np.zeros(2)}, ValueError, "'a/b'"),
    ({"": np.zeros(2)}, ValueError, "''"),
])
def test_save_rejects_what_cannot_load_without_pickle(tmp_path, arrays, kind, words):
    path = tmp_path / "ckpt.npz"
    with pytest.raises(kind) as info:
        checkpoint.save(path, arrays)
    assert words in str(info.value)
    assert os.listdir(tmp_path) == []                                # nothing written, not even a temp


def test_save_failure_mid_write_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"w": np.ones(2)})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(OSError, match="No space"):
        checkpoint.save(path, {"w": np.zeros(2)})
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(checkpoint.load(path)["w"], np.ones(2))

