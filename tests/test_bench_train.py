"""``scratchrnn bench train``: one epoch of each task on both backends, timed chunk by chunk in
turns, with the defaults of ``scratchrnn train TASK``."""

import json
import os
import time
import zipfile

import pytest

from scratchrnn.bench import cli, timing, train
from scratchrnn.bench.spec import fmt_ratio

pytest.importorskip("torch", reason="needs torch (not installed): every test times the torch backend too")
pytest.importorskip("matplotlib", reason="needs matplotlib (the [plots] extra)")
FAST = ["--pause", "0", "--max-other", "100", "--chunks", "5", "--min-seconds", "0"]   # guard tested elsewhere


@pytest.fixture
def lyrics_root(tmp_path):
    """A data root with a small stand-in for jaychou_lyrics.txt.zip (the real one is read
    in the lead's full run; this one only needs to hold a few batches of text)."""
    text = "我想就这样牵着你的手不放开 爱可不可以简简单单没有伤害 " * 400
    with zipfile.ZipFile(tmp_path / "jaychou_lyrics.txt.zip", "w") as z:
        z.writestr("jaychou_lyrics.txt", text)
    return tmp_path


def test_task_defaults_are_the_train_commands(lyrics_root):
    c = train.task_defaults("charlm", str(lyrics_root))
    assert (c.model, c.hidden, c.steps, c.batch, c.optimizer, c.lr, c.clip, c.max_chars) == \
        ("rnn", 256, 35, 32, "sgd", 100.0, 0.01, 10000)
    assert c.corpus == os.path.join(str(lyrics_root), "jaychou_lyrics.txt.zip")
    m = train.task_defaults("mnist")
    assert (m.model, m.hidden, m.layers, m.batch, m.optimizer, m.lr) == ("lstm", 128, 2, 100, "adam", 1e-3)
    s = train.task_defaults("sine")
    assert (s.model, s.hidden, s.segments, s.steps) == ("rnn", 32, 300, 10)


def test_charlm_without_the_lyrics_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SCRATCHRNN_DATA", raising=False)
    assert cli.main(["bench", "train", "--tasks", "charlm", "--out", str(tmp_path), *FAST][1:]) == 2
    assert "jaychou_lyrics.txt.zip" in capsys.readouterr().err


def test_chunks_take_turns_and_add_up_to_the_epoch():
    order = []
    steps = {b: [lambda b=b, i=i: order.append((b, i)) for i in range(10)] for b in ("a", "b")}
    stats = train.time_epoch(steps, timing.Guard(100.0), chunks=5, pause=0, warmup=1, min_s=0)
    # warm-up a0, b0; then chunk by chunk: a0 a1, b0 b1, a2 a3, b2 b3, ...
    assert order[:2] == [("a", 0), ("b", 0)]
    assert order[2:6] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    for s in stats.values():
        assert s["n_samples"] == 5 and s["batches"] == 10 and s["epochs"] == 1
        assert s["epoch_s"] == pytest.approx(sum(x * 2 for x in s["samples_s"]))


def test_a_short_epoch_is_timed_several_times_back_to_back():
    """Epochs of 4 batches of ~2 ms, ``min_s`` 0.05 s: ceil(0.05 / 0.008) = 7 epochs, or fewer
    where the last warm-up batch took longer; the chunks run the batches in order, round and
    round, and the seconds per epoch are the timed seconds over the epochs."""
    order = []

    def batch(b, i):
        order.append((b, i))
        time.sleep(0.002)
    steps = {b: [lambda b=b, i=i: batch(b, i) for i in range(4)] for b in ("a", "b")}
    stats = train.time_epoch(steps, timing.Guard(100.0), chunks=5, pause=0, warmup=1, min_s=0.05)
    epochs = stats["a"]["epochs"]
    assert 2 <= epochs <= 7 and stats["b"]["epochs"] == epochs
    timed = [i for b, i in order[2:] if b == "a"]
    assert timed == [0, 1, 2, 3] * epochs
    for s in stats.values():
        assert s["batches"] == 4 and s["n_samples"] == 5
        timed_s = sum(x * c for x, c in zip(s["samples_s"], s["calls_per_sample"]))
        assert s["epoch_s"] == pytest.approx(timed_s / epochs)


def test_epochs_to_time():
    assert train.epochs_to_time(0.2, 3.0) == 15
    assert train.epochs_to_time(0.01, 3.0) == train.MAX_EPOCHS
    assert train.epochs_to_time(5.0, 3.0) == train.epochs_to_time(0.0, 3.0) == train.epochs_to_time(0.2, 0) == 1


def test_bench_train_times_both_backends(lyrics_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--tasks", "charlm", "sine", "--data-dir", str(lyrics_root),
                     "--limit", "5", "--out", str(out), *FAST]) == 0
    data = json.loads((out / "train_cpu.json").read_text())
    rows = {r["task"]: r for r in data["rows"]}
    assert set(rows) == {"charlm", "sine"}
    for r in rows.values():
        for side in ("scratchrnn", "torch_cpu"):
            assert r[side]["epoch_s"] > 0 and r[side]["n_samples"] == 5 and r[side]["batches"] == 5
        assert r["time_over_torch_cpu"] == pytest.approx(r["scratchrnn"]["epoch_s"] /
                                                         r["torch_cpu"]["epoch_s"])
        assert r["limited"] is True
    assert "rnn 256×1, T=35, batch 32" in rows["charlm"]["settings"]
    md = (out / "train_cpu.md").read_text()
    assert "time over torch CPU" in md and "Shortened epochs" in md and "## Machine" in md
    assert "charlm: scratchrnn" in capsys.readouterr().out
    # five chunks each: the paired column has its interval, from the least to the largest ratio
    for r in rows.values():
        ratios = timing.paired_ratios(r["scratchrnn"]["samples_s"], r["torch_cpu"]["samples_s"])
        assert f"({fmt_ratio(min(ratios))} – {fmt_ratio(max(ratios))}) |" in md
    # `render` writes the same report again from the JSON alone, and refuses what is not a run
    (out / "train_cpu.md").write_text("stale")
    assert cli.main(["render", str(out / "train_cpu.json")]) == 0
    assert (out / "train_cpu.md").read_text() == md
    (tmp_path / "list.json").write_text("[1, 2]")
    assert cli.main(["render", str(tmp_path / "list.json")]) == 2
    assert "is not a grid or training-time run" in capsys.readouterr().err


def test_mnist_epoch_with_the_shared_data(tmp_path):
    root = os.environ.get("SCRATCHRNN_DATA")
    if not root or not os.path.isdir(os.path.join(root, "MNIST", "raw")):
        pytest.skip("SCRATCHRNN_DATA is unset or has no MNIST/raw: point it at a private copy "
                    "of the data directory to time the MNIST epoch")
    rows = train.run(["mnist"], timing.Guard(100.0), root, chunks=5, pause=0, limit=500,
                     say=lambda s: None)
    (r,) = rows
    assert r["scratchrnn"]["batches"] == r["torch_cpu"]["batches"] == 5
    assert "lstm 128×2, T=28, batch 100" in r["settings"]
