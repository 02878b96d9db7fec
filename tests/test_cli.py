"""The command line: verify's table, JSON and exit codes; bench's argument pass-through to
scratchrnn.bench (run end to end in test_bench.py)."""

import json
import sys

import pytest

from scratchrnn.kernels import passes
from scratchrnn.apps import cli

pytest.importorskip("torch")
SMALL = ["verify", "--models", "gru", "--max-layers", "1", "--dtypes", "float64"]


def test_verify_passes_and_writes_json(tmp_path, capsys):
    path = tmp_path / "v.json"
    assert cli.main([*SMALL, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "16 passed, 0 failed" in out and "FAIL" not in out
    data = json.loads(path.read_text())
    assert len(data["results"]) == 16 and all(r["ok"] for r in data["results"])
    assert data["device"] == "cpu"
    first = data["results"][0]
    assert first["config"]["model"] == "gru" and "weight_hh_l0" in first["torch"]
    assert first["finite_differences"]["x"]["ok"]


def test_verify_exits_1_on_a_wrong_gradient(monkeypatch, capsys):
    def wrong(real, blocked):
        def run(*args):
            real(*args)
            dw_ih = args[6 + 2 * blocked]                    # param_grads's dw_ih (G·H, I), after the pass
            dw_ih[:1] *= 1.5                                 # one unit's reset-gate weight gradient off by 50%
        return run
    monkeypatch.setattr(passes, "gru_backward_pass", wrong(passes.gru_backward_pass, False))
    monkeypatch.setattr(passes, "gru_backward_blocks", wrong(passes.gru_backward_blocks, True))
    assert cli.main(SMALL) == 1
    assert "FAIL" in capsys.readouterr().out


def test_verify_exits_2_without_torch(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)          # makes `import torch` fail
    assert cli.main(SMALL) == 2
    assert "needs PyTorch" in capsys.readouterr().err


def test_verify_on_cuda_without_a_gpu_exits_2(monkeypatch, capsys):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main([*SMALL, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "torch sees no CUDA device" in err and "--device cpu" in err


def test_verify_turns_tf32_off_on_a_gpu_and_restores_it():
    import torch
    from scratchrnn.apps import verify
    flags = (torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")
    saved = [getattr(o, a) for o, a in flags]
    try:
        for o, a in flags:
            setattr(o, a, True)
        with pytest.raises(RuntimeError), verify._no_tf32("cuda"):
            assert not any(getattr(o, a) for o, a in flags)
            raise RuntimeError("a failing check")
        assert all(getattr(o, a) for o, a in flags)
        with verify._no_tf32("cpu"):                         # the CPU leaves torch's flags alone
            assert all(getattr(o, a) for o, a in flags)
    finally:
        for (o, a), v in zip(flags, saved):
            setattr(o, a, v)


def test_bench_passes_its_arguments_through(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "scratchrnn bench" in out
    assert all(flag in out for flag in ("--quick", "--tf32", "--impls", "--nojit-max-s", "--no-plots",
                                        "--max-other", "--samples", "--out"))


def test_bench_train_has_its_own_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "train", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "scratchrnn bench train" in out and "--tasks" in out


def test_bench_rejects_an_unknown_implementation(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "--impls", "tensorflow"])
    assert e.value.code == 2 and "invalid choice: 'tensorflow'" in capsys.readouterr().err


def test_python_m_scratchrnn_bench_runs_the_grid_harness():
    import subprocess
    res = subprocess.run([sys.executable, "-m", "scratchrnn.bench", "--help"], capture_output=True,
                         text=True, check=True)
    assert "--long-t-max-nh" in res.stdout
