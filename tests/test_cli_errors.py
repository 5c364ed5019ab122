"""Specification of how ``aegui`` commands fail: a bad file, a full disk, a folder without
permission is one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from full_disk import fill_disk_after
from PIL import Image

from aegui import models
from aegui.cli import main
from aegui.models import ModelConfig
from aegui.models.checkpoint import payload_digest
from aegui.train import TrainConfig, Trainer

from synthetic_digits import TINY, synthetic_digits

REPO = Path(__file__).resolve().parents[1]
TINY_FLAGS = ["--kind", "ae", "--latent-dim", "3", "--channels", "", "--hidden", "8", "--batch-size", "64",
              "--seed", "0", "--quiet", "--no-eval"]


def one_line_error(capsys, argv, *fragments) -> str:
    """Run ``aegui argv``: it must fail, saying so in one line holding ``fragments``."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write_npz(path: Path) -> Path:
    digits = synthetic_digits(n_train=64, n_test=16)
    np.savez(path, x_train=digits.x_train, y_train=digits.y_train, x_test=digits.x_test, y_test=digits.y_test)
    return path


@pytest.fixture
def data(tmp_path) -> Path:
    return write_npz(tmp_path / "mini.npz")


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model = models.create(config=ModelConfig(kind="ae", latent_dim=3, channels=(), hidden=(8,)), seed=0)
    return models.save(model, tmp_path / "small.pt")


# ------------------------------------------------------------------ eval


def test_eval_of_a_checkpoint_with_nonsense_reference_indices(tmp_path, capsys, data, checkpoint):
    payload = torch.load(checkpoint, weights_only=True)
    payload["reference"] = {"codes": torch.zeros(4, 3), "labels": torch.zeros(4, dtype=torch.uint8),
                            "indices": "x"}
    payload["digest"] = payload_digest(payload)
    torch.save(payload, checkpoint)
    one_line_error(capsys, ["eval", checkpoint, "--data", data], "aegui eval: error:", "small.pt",
                   "reference indices")


def test_eval_update_on_a_full_disk(capsys, monkeypatch, data, checkpoint):
    before = checkpoint.read_bytes()
    fill_disk_after(monkeypatch, capacity=100)
    one_line_error(capsys, ["eval", checkpoint, "--data", data, "--update"], "small.pt",
                   "No space left on device")
    assert checkpoint.read_bytes() == before


def test_eval_on_data_of_python_objects(tmp_path, capsys, checkpoint):
    bad = tmp_path / "objects.npz"
    np.savez(bad, x_train=np.array([None, 1], dtype=object), y_train=np.zeros(2), x_test=np.zeros((1, 28, 28)),
             y_test=np.zeros(1))
    one_line_error(capsys, ["eval", checkpoint, "--data", bad], "objects.npz", "Python objects")


def test_eval_of_a_truncated_checkpoint_in_a_real_process_prints_no_traceback(tmp_path, data, checkpoint):
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    done = subprocess.run([sys.executable, "-m", "aegui", "eval", str(checkpoint), "--data", str(data)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "small.pt" in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------ train


def test_train_on_a_full_disk(tmp_path, capsys, monkeypatch, data):
    fill_disk_after(monkeypatch, capacity=0)
    out = tmp_path / "m.pt"
    one_line_error(capsys, ["train", "--data", data, *TINY_FLAGS, "--epochs", "2", "--out", out],
                   "aegui train: error:", "m.pt: cannot write the checkpoint: No space left on device")
    assert list(tmp_path.iterdir()) == [data]


def test_train_into_a_folder_that_is_a_file(tmp_path, capsys, data):
    (tmp_path / "taken").write_text("a file")
    one_line_error(capsys, ["train", "--data", data, *TINY_FLAGS, "--epochs", "1", "--out", tmp_path / "taken" / "m.pt"],
                   "taken/m.pt: cannot write the checkpoint")


def test_train_with_a_decompression_bomb_among_the_drawings(tmp_path, capsys, data):
    (tmp_path / "mine" / "2").mkdir(parents=True)
    bomb = tmp_path / "mine" / "2" / "bomb.png"
    Image.new("L", (30, 30)).save(bomb)
    raw = bytearray(bomb.read_bytes())
    raw[16:24] = (20000).to_bytes(4, "big") * 2          # IHDR width and height (then a bad CRC)
    bomb.write_bytes(bytes(raw))
    one_line_error(capsys, ["train", "--data", data, *TINY_FLAGS, "--extra-data", tmp_path / "mine"],
                   "aegui train: error:", "bomb.png")


def test_train_with_a_digit_folder_without_permission(tmp_path, capsys, monkeypatch, data):
    from aegui import drawings
    from drawn_digits import canvas_digit

    drawings.save_drawing(tmp_path / "mine", 1, canvas_digit("1"))
    real = os.listdir
    locked = str(tmp_path / "mine" / "1")
    monkeypatch.setattr(os, "listdir", lambda folder=".": (_ for _ in ()).throw(
        PermissionError(13, "Permission denied", folder)) if str(folder) == locked else real(folder))
    one_line_error(capsys, ["train", "--data", data, *TINY_FLAGS, "--extra-data", tmp_path / "mine"],
                   "1: cannot read the folder: Permission denied")


@pytest.mark.parametrize("field, value", [("epoch", -1), ("noise", torch.zeros(3, dtype=torch.uint8))])
def test_train_resume_of_a_tampered_run(tmp_path, capsys, field, value):
    from aegui.data import load_digits

    path = write_npz(tmp_path / "run.npz")
    trainer = Trainer(TrainConfig(model=TINY, epochs=3, batch_size=16), load_digits(path))
    calls = iter(range(100))
    list(trainer.run(should_stop=lambda: next(calls) >= 1))
    saved = trainer.save(tmp_path / "run.pt")
    payload = torch.load(saved, weights_only=True)
    payload["training"][field] = value
    payload["digest"] = payload_digest(payload)
    torch.save(payload, saved)
    one_line_error(capsys, ["train", "--resume", saved, "--data", path], "run.pt: damaged training state",
                   field)


# ------------------------------------------------------------------ bench


def test_bench_json_into_a_folder_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    one_line_error(capsys, ["bench", "ops", "--batches", "1", "--hidden", "8", "--latent", "2", "--modes",
                            "inference", "--no-compile", "--rounds", "1", "--json", tmp_path / "taken" / "b.json"],
                   "aegui bench: error:", "taken")
