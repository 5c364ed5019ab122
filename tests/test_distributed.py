"""Specification of training in several processes (``torchrun``, gloo on the CPU): the
result matches one process's within floating-point noise, only rank 0 writes, and a run
stopped by Ctrl-C resumes exactly as if it had never stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aegui import models
from aegui.cli import main

from test_train import write_npz

REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch has no torch.distributed"),
    pytest.mark.skipif(sys.platform == "win32", reason="torchrun's signals and gloo differ on Windows"),
]

# A VAE (the noise must be shared out right) on 90 images in batches of 31: the shares are
# 16 and 15 images, and the last batch (28) is smaller than the others.
FLAGS = ["--kind", "vae", "--latent-dim", "3", "--channels", "", "--hidden", "24", "--batch-size", "31",
         "--seed", "0", "--no-eval", "--quiet"]


def torchrun(*args: str, processes: int = 2) -> subprocess.Popen:
    # --standalone: a free port of its own, so parallel runs never meet.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             f"--nproc-per-node={processes}", "-m", "aegui", "train", *args],
                            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:]
    return out


def max_difference(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k] - sb[k]).abs().max().item() for k in sa)


def test_two_processes_train_the_model_one_process_trains(tmp_path):
    data = write_npz(tmp_path / "mini.npz", n_train=90, n_test=16)
    common = ["--data", str(data), *FLAGS, "--epochs", "4"]
    out = finish(torchrun(*common, "--out", str(tmp_path / "two.pt")))
    assert "2 processes" in out and out.count("epoch 4/4") == 1        # rank 0 alone prints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini.npz", "two.pt"]   # and writes
    threads = torch.get_num_threads()
    try:
        assert main(["train", *common, "--threads", "1", "--out", str(tmp_path / "one.pt")]) == 0
    finally:
        torch.set_num_threads(threads)

    one, two = models.load(tmp_path / "one.pt"), models.load(tmp_path / "two.pt")
    # The same updates, up to the order of floating-point sums: differences of a few ulp.
    assert max_difference(one, two) < 1e-5
    for a, b in zip(one.metadata["history"], two.metadata["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["val_sse"] == pytest.approx(b["val_sse"], rel=1e-5)


@pytest.mark.slow
def test_ctrl_c_under_torchrun_saves_a_checkpoint_that_resumes_exactly(tmp_path):
    data = write_npz(tmp_path / "mini.npz", n_train=90, n_test=16)
    common = ["--data", str(data), *FLAGS, "--epochs", "60"]

    interrupted = torchrun(*common, "--out", str(tmp_path / "run.pt"))
    for line in interrupted.stdout:          # wait until training is under way
        if line.startswith("epoch 2/"):
            break
    interrupted.send_signal(signal.SIGINT)   # as Ctrl-C does: torchrun passes it to its workers
    out, _ = interrupted.communicate(timeout=120)
    assert "saved a resumable checkpoint" in out and "torchrun --nproc-per-node N -m aegui train --resume" in out
    partial = models.read_checkpoint(tmp_path / "run.pt")
    assert partial.training is not None and 2 <= partial.training["epoch"] < 60

    resumed = torchrun("--resume", str(tmp_path / "run.pt"), "--data", str(data), "--quiet", "--no-eval")
    assert "resuming at epoch" in finish(resumed)
    finish(torchrun(*common, "--out", str(tmp_path / "straight.pt")))

    a, b = models.load(tmp_path / "run.pt"), models.load(tmp_path / "straight.pt")
    assert max_difference(a, b) == 0.0
    assert a.metadata["history"] == b.metadata["history"]
