"""Specification of checkpoint files: exact round trips, atomic saves, and loading that
refuses anything damaged, foreign or hostile with a clear error and runs nothing."""

from __future__ import annotations

import os
import pickle
import stat
import zipfile

import numpy as np
import pytest
import torch

from aegui import models
from aegui.models import CheckpointError, ModelConfig, Reference
from aegui.models.checkpoint import payload_digest

MLP = ModelConfig(kind="ae", latent_dim=3, channels=(), hidden=(16,))


def trained_looking(kind: str = "ae", seed: int = 1) -> models.Autoencoder:
    # A small conv model, so that every kind of layer goes through the file.
    model = models.create(config=ModelConfig(kind=kind, latent_dim=3, channels=(4, 8), hidden=(20, 10)), seed=seed)
    model.metrics = {"sse": 4.25, "knn5_accuracy": 0.975}
    model.metadata = {"epochs_done": 7, "nested": {"list": [1, 2.5, "x", None, True]}}
    rng = np.random.default_rng(0)
    model.reference = Reference(codes=rng.normal(size=(50, 3)).astype(np.float32),
                                labels=rng.integers(0, 10, 50).astype(np.uint8),
                                indices=np.arange(50, dtype=np.int64) * 3)
    return model


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_save_then_load_gives_back_exactly_the_same_model(tmp_path, kind):
    model = trained_looking(kind)
    path = models.save(model, tmp_path / "mine.pt", note="hello")
    loaded = models.load(path)

    assert type(loaded) is type(model) and loaded.kind == kind
    assert loaded.config == model.config and loaded.latent_dim == 3
    assert loaded.name == "mine"
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert loaded.metrics == model.metrics
    assert loaded.metadata == {**model.metadata, "note": "hello"}
    np.testing.assert_array_equal(loaded.reference.codes, model.reference.codes)
    np.testing.assert_array_equal(loaded.reference.labels, model.reference.labels)
    np.testing.assert_array_equal(loaded.reference.indices, model.reference.indices)
    assert loaded.reference.codes.dtype == np.float32 and loaded.reference.labels.dtype == np.uint8
    x = torch.rand(4, 1, 28, 28)
    with torch.inference_mode():
        assert torch.equal(loaded.decode(loaded.encode(x)), model.eval().decode(model.encode(x)))
    assert not loaded.training


def test_a_saved_file_gets_the_permissions_of_an_ordinary_file(tmp_path):
    umask = os.umask(0o022)
    try:
        path = models.save(models.create(config=MLP), tmp_path / "shared.pt")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) & 0o444 == 0o444   # readable by the app of any user


def test_a_model_without_reference_or_metrics_round_trips(tmp_path):
    model = models.create(config=MLP, seed=3)
    loaded = models.load(models.save(model, tmp_path / "bare.pt"))
    assert loaded.reference is None and loaded.metrics == {} and loaded.metadata == {}


def test_saving_is_atomic_an_interrupted_save_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    models.save(models.create(config=MLP, seed=0), path)
    before = path.read_bytes()

    def dies_halfway(obj, stream, *args, **kwargs):
        stream.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        models.save(models.create(config=MLP, seed=1), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]


def test_metadata_that_could_not_be_loaded_safely_is_refused_at_save(tmp_path):
    with pytest.raises(CheckpointError, match="cannot go in a checkpoint"):
        models.save(models.create(config=MLP, seed=0), tmp_path / "x.pt", when=object())
    assert not (tmp_path / "x.pt").exists()


# ------------------------------------------------------------------ bad files


class CreatesAFile:
    """Unpickling this would create the file ``marker`` (and so would run code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_hostile_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "hostile.pt"
    path.write_bytes(pickle.dumps({"format": "aegui-checkpoint", "x": CreatesAFile(marker)}))
    assert not marker.exists()
    # A bare pickle is not the zip archive torch.save writes: refused before any unpickling.
    with pytest.raises(CheckpointError, match=r"hostile\.pt: .*not an aegui checkpoint"):
        models.load(path)
    assert not marker.exists()


def test_a_hostile_object_inside_a_real_torch_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    model = models.create(config=MLP, seed=0)
    good = tmp_path / "good.pt"
    models.save(model, good)
    payload = torch.load(good, weights_only=True)
    payload["metadata"] = {"innocent": CreatesAFile(marker)}
    path = tmp_path / "tampered.pt"
    torch.save(payload, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused") as caught:
        models.load(path)
    assert not marker.exists()
    # The name of what it tried to call, and no advice on how to load it anyway.
    assert "builtins.open" in str(caught.value) or "io.open" in str(caught.value)
    for advice in ("weights_only", "safe_globals", "trust"):
        assert advice not in str(caught.value)


def test_an_empty_file_says_it_is_empty(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt: empty file"):
        models.load(path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_a_truncated_file_is_reported_as_truncated_or_corrupt(tmp_path, keep):
    good = models.save(trained_looking(), tmp_path / "good.pt")
    data = good.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"cut\.pt: .*(truncated|corrupt)"):
        models.load(path)


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match=r"noise\.pt"):
        models.load(path)


def test_flipped_bits_in_the_weights_are_caught(tmp_path):
    model = models.create(config=MLP, seed=0)
    with torch.no_grad():
        model.code.bias.copy_(torch.tensor([1.25, -2.5, 3.75]))
    path = models.save(model, tmp_path / "flipped.pt")
    data = bytearray(path.read_bytes())
    needle = model.code.bias.detach().numpy().tobytes()
    at = data.find(needle)
    assert at > 0
    data[at + 1] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped\.pt: .*corrupt"):
        models.load(path)


def test_a_foreign_torch_file_is_not_an_aegui_checkpoint(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError, match=r"resnet\.pt: not an aegui checkpoint.*fc\.weight"):
        models.load(path)


def test_a_zip_that_is_not_a_torch_file_is_refused(tmp_path):
    path = tmp_path / "archive.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(CheckpointError, match=r"archive\.pt"):
        models.load(path)


def test_weights_that_do_not_fit_the_recorded_config_are_refused(tmp_path):
    path = models.save(models.create(config=MLP, seed=0), tmp_path / "mismatch.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["latent_dim"] = 4
    payload["digest"] = payload_digest(payload)      # consistent: only the shapes disagree
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"mismatch\.pt: the weights do not fit"):
        models.load(path)


def test_a_checkpoint_from_a_newer_format_says_so(tmp_path):
    path = models.save(models.create(config=MLP, seed=0), tmp_path / "future.pt")
    payload = torch.load(path, weights_only=True)
    payload["version"] = 99
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="version 99"):
        models.load(path)


def test_missing_files_directories_and_unknown_names_raise_clearly(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        models.load(tmp_path / "absent.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        models.load(str(tmp_path) + os.sep)
    with pytest.raises(CheckpointError, match="not a shipped model name"):
        models.load("ae-999-no-such-model")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
