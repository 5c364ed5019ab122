"""Specification of what loading a checkpoint verifies: the whole file's integrity (every
record, the zip's CRCs, a digest over all of it), then the plausibility of what it holds
(finite numbers, digits 0-9, sizes a model of this app can have), with every declared size
bounded before anything of that size is allocated. Old (version 1) files still load."""

from __future__ import annotations

import struct
import time
import zipfile

import numpy as np
import pytest
import torch
from full_disk import fill_disk_after

from aegui import models
from aegui.models import CheckpointError, ModelConfig, Reference, checkpoint
from aegui.models.checkpoint import payload_digest, weights_digest

SMALL = ModelConfig(kind="ae", latent_dim=3, channels=(), hidden=(16,))
FORBIDDEN_ADVICE = ("run code", "weights_only", "safe_globals")


def small_model(seed: int = 0) -> models.Autoencoder:
    model = models.create(config=SMALL, seed=seed)
    model.metrics = {"sse": 4.5}
    model.metadata = {"epochs_done": 3, "history": [{"epoch": 1, "loss": 2.5}]}
    rng = np.random.default_rng(seed)
    model.reference = Reference(codes=rng.normal(size=(40, 3)).astype(np.float32),
                                labels=rng.integers(0, 10, 40).astype(np.uint8),
                                indices=np.arange(40, dtype=np.int64) * 7)
    return model


def saved(tmp_path, name: str = "model.pt", seed: int = 0):
    return models.save(small_model(seed), tmp_path / name)


def rewrite(path, change, *, fix_digest: bool = True) -> None:
    """Load a checkpoint's payload, ``change`` it, save it again with torch.save (so the zip
    CRCs are right again); with ``fix_digest`` the digest is recomputed too, so that only
    the plausibility checks can catch the change."""
    payload = torch.load(path, weights_only=True)
    change(payload)
    if fix_digest:
        payload["digest"] = payload_digest(payload) if payload["version"] >= 2 else \
            weights_digest(payload["state_dict"])
    torch.save(payload, path)


def record_spans(path) -> dict[str, tuple[int, int]]:
    """Where each zip record's bytes lie in the file: name -> (start, length)."""
    data = path.read_bytes()
    spans = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
            spans[info.filename] = (info.header_offset + 30 + name_len + extra_len, info.compress_size)
    return spans


# ------------------------------------------------------------------ the format


def test_new_checkpoints_are_version_2_with_a_digest_over_every_record(tmp_path):
    payload = torch.load(saved(tmp_path), weights_only=True)
    assert payload["version"] == 2
    assert payload["digest"] == payload_digest(payload)
    others = {k: v for k, v in payload.items() if k != "digest"}
    changed = dict(others, metadata={**others["metadata"], "epochs_done": 4})
    assert payload_digest(changed) != payload_digest(others)


def test_empty_tensors_are_covered_too(tmp_path):
    """A reference without indices (fine-tuned on drawings alone) and an empty metadata
    tensor: torch may save empty tensors with any strides."""
    model = small_model()
    model.reference = Reference(codes=model.reference.codes, labels=model.reference.labels)
    model.metadata["nothing"] = torch.zeros(0, 3)[:, 1]
    path = models.save(model, tmp_path / "model.pt")
    loaded = models.load(path)
    assert loaded.reference.indices.shape == (0,) and loaded.metadata["nothing"].numel() == 0


def test_the_shipped_models_load_and_a_version_1_copy_of_one_still_loads(tmp_path):
    shipped = [models.zoo.path_of(name) for name in models.zoo.SHIPPED if models.zoo.path_of(name).is_file()]
    if not shipped:
        pytest.skip("no shipped model files in resources/models")
    for path in shipped:
        assert torch.load(path, weights_only=True)["version"] == 2     # rewritten with their latent maps
        model = models.load(path)
        assert model.reference is not None and len(model.reference.codes) == 5000
    old = tmp_path / "old.pt"
    old.write_bytes(shipped[0].read_bytes())
    version_1(old)
    assert torch.load(old, weights_only=True)["version"] == 1
    assert len(models.load(old).reference.codes) == 5000


def version_1(path) -> None:
    """Turn a checkpoint into a version 1 file: the digest covers the weights only."""
    def change(payload):
        payload["version"] = 1
    rewrite(path, change)


def test_a_version_1_file_loads_and_gets_the_checks_that_apply_to_it(tmp_path):
    path = saved(tmp_path)
    version_1(path)
    assert models.load(path).reference.codes.shape == (40, 3)

    def nan_code(payload):
        payload["reference"]["codes"][5, 1] = float("nan")
    rewrite(path, nan_code)
    with pytest.raises(CheckpointError, match=r"model\.pt: .*reference codes.*NaN"):
        models.load(path)


# ------------------------------------------------------------------ integrity


def test_a_byte_changed_in_any_record_is_caught(tmp_path):
    path = saved(tmp_path)
    good = path.read_bytes()
    spans = record_spans(path)
    assert any(name.endswith("data.pkl") for name in spans) and len(spans) > 5
    for name, (start, length) in spans.items():
        data = bytearray(good)
        data[start + length // 2] ^= 0x10
        path.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match=r"model\.pt: .*(damaged|corrupt)") as caught:
            models.load(path)
        assert not any(word in str(caught.value) for word in FORBIDDEN_ADVICE), name


@pytest.mark.parametrize("what", ["metadata", "metrics", "reference codes", "reference labels",
                                  "training", "a record added"])
def test_records_changed_after_writing_are_caught_by_the_digest(tmp_path, what):
    """Edited with the zip CRCs made right again: only the digest over all records sees it."""
    path = saved(tmp_path)
    changes = {
        "metadata": lambda p: p["metadata"].update(epochs_done=30),
        "metrics": lambda p: p["metrics"].update(sse=1.0),
        "reference codes": lambda p: p["reference"]["codes"].mul_(2),
        "reference labels": lambda p: p["reference"]["labels"].fill_(7),
        "training": lambda p: p.update(training={"epoch": 1}),
        "a record added": lambda p: p.update(extra=torch.ones(3)),
    }
    rewrite(path, changes[what], fix_digest=False)
    with pytest.raises(CheckpointError, match=r"model\.pt: corrupt checkpoint: its records do not match"):
        models.load(path)


@pytest.mark.parametrize("content", [b"\x80", b"P", b"PK", b"PK\x03\x04", b"\x00" * 64],
                         ids=["0x80", "P", "PK", "local header", "zeros"])
def test_tiny_and_foreign_files_are_damaged_or_not_checkpoints_never_code(tmp_path, content):
    path = tmp_path / "tiny.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"tiny\.pt: .*not an aegui checkpoint") as caught:
        models.load(path)
    assert not any(word in str(caught.value) for word in FORBIDDEN_ADVICE)


def test_a_damaged_pickle_with_a_right_crc_is_reported_as_damaged(tmp_path):
    """The pickle's bytes scrambled and the zip rewritten with CRCs to match: the unpickler
    meets garbage opcodes or names, and the message says damaged, not 'could run code'."""
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as z:
        records = {info.filename: z.read(info) for info in z.infolist()}
    pkl = next(name for name in records if name.endswith("data.pkl"))
    for offset in range(2, 40, 3):
        scrambled = bytearray(records[pkl])
        scrambled[offset] = ord("c")          # GLOBAL opcode with a garbage name after it
        with zipfile.ZipFile(path, "w") as z:
            for name, data in records.items():
                z.writestr(name, bytes(scrambled) if name == pkl else data)
        with pytest.raises(CheckpointError, match=r"model\.pt") as caught:
            models.load(path)
        assert not any(word in str(caught.value) for word in FORBIDDEN_ADVICE), offset


def test_a_pickle_cut_inside_an_opcode_is_reported_as_damaged(tmp_path):
    """torch's unpickler raises struct.error there, among other kinds (found by
    tests/test_fuzz.py): every kind is a CheckpointError."""
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as z:
        records = {info.filename: z.read(info) for info in z.infolist()}
    pkl = next(name for name in records if name.endswith("data.pkl"))
    with zipfile.ZipFile(path, "w") as z:
        for name, data in records.items():
            z.writestr(name, b"\x80\x02}q\x00J\x01" if name == pkl else data)   # BININT with 1 of its 4 bytes
    with pytest.raises(CheckpointError, match=r"model\.pt: damaged checkpoint, or not one"):
        models.load(path)


# ------------------------------------------------------------------ declared sizes first


def deflated_copy(path, out, inflated: int) -> None:
    """``path`` with its first weight record replaced by ``inflated`` bytes of zeros, deflated
    (a few hundred kB): a decompression bomb in a checkpoint's clothing."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data/0"):
                record = zipfile.ZipInfo(info.filename)
                record.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(record, "w", force_zip64=True) as w:
                    w.write(data)
                    for _ in range((inflated - len(data)) >> 20):
                        w.write(bytes(1 << 20))
            else:
                dst.writestr(info.filename, data)


def test_a_decompression_bomb_is_refused_before_torch_reads_any_record(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.pt"
    deflated_copy(saved(tmp_path), bomb, 64 << 20)
    assert bomb.stat().st_size < 1 << 20

    def must_not_run(*args, **kwargs):
        raise AssertionError("torch.load ran on a file whose declared sizes were not checked")

    monkeypatch.setattr(checkpoint.torch, "load", must_not_run)
    with pytest.raises(CheckpointError, match=r"bomb\.pt: .*not an aegui checkpoint.*compressed"):
        models.load(bomb)


def test_a_tensor_declaring_more_elements_than_it_stores_is_refused(tmp_path):
    """A stride-0 view: 2^40 elements over one stored float. Reading its bytes would make
    a 4 TB copy; it is refused from its declared size."""
    path = saved(tmp_path)
    rewrite(path, lambda p: p["metadata"].update(view=torch.zeros(1).expand(1 << 40)), fix_digest=False)
    with pytest.raises(CheckpointError, match=r"model\.pt: .*metadata.*view.*more elements than"):
        models.load(path)


def test_records_nested_too_deep_or_too_many_are_refused(tmp_path):
    path = saved(tmp_path)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    rewrite(path, lambda p: p["metadata"].update(deep=deep), fix_digest=False)
    with pytest.raises(CheckpointError, match=r"model\.pt: .*nested"):
        models.load(path)

    shared: list = [1.0]
    for _ in range(25):       # 2^25 paths through 25 lists: the pickle shares them
        shared = [shared, shared]
    rewrite(path, lambda p: p["metadata"].update(deep=None, shared=shared), fix_digest=False)
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"model\.pt: .*too many"):
        models.load(path)
    assert time.perf_counter() - started < 30


def test_a_model_config_too_large_for_this_app_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"hidden.*at most"):
        ModelConfig(hidden=(1 << 20, 1 << 20))
    path = saved(tmp_path)
    rewrite(path, lambda p: p["config"].update(hidden=[1 << 20, 1 << 20]))
    monkeypatch.setattr(checkpoint, "build", lambda *a, **k: pytest.fail("built a model of a refused config"))
    with pytest.raises(CheckpointError, match=r"model\.pt: .*model config.*hidden.*at most"):
        models.load(path)


# ------------------------------------------------------------------ plausibility


def _set(path: str, value):
    """A change of the payload at ``path`` ("record/key/key"): to ``value``, or to
    ``value(old)`` when it is callable."""
    def change(payload):
        *outer, last = path.split("/")
        target = payload
        for key in outer:
            target = target[key]
        target[last] = value(target[last]) if callable(value) else value
    return change


def _poison(index, value):
    def apply(t):
        t = t.clone()
        t.view(-1)[index] = value
        return t
    return apply


@pytest.mark.parametrize("change, message", [
    (_set("state_dict/code.weight", _poison(4, float("nan"))), r"weight 'code\.weight'.*NaN or infinite"),
    (_set("state_dict/decoder_in.bias", _poison(0, float("inf"))), r"weight 'decoder_in\.bias'.*NaN or infinite"),
    (_set("reference/codes", _poison(7, float("nan"))), r"reference codes.*NaN"),
    (_set("reference/labels", _poison(3, 200)), r"reference labels.*0\.\.9.*200"),
    (_set("reference/indices", "x"), r"reference indices"),
    (_set("reference/indices", _poison(2, -5)), r"reference indices.*-5"),
    (_set("reference/indices", lambda t: t[:10]), r"reference indices.*10.*40 codes"),
    (_set("reference/codes", lambda t: t[:, :2]), r"reference codes.*\(N, 3\)"),
    (_set("reference/codes", lambda t: t.double()), r"reference codes.*float32"),
    (_set("metrics", [1, 2]), r"'metrics' is missing or not a dict"),
    (_set("training", {"opt": {"state": torch.tensor([1.0, float("nan")])}}), r"training.*NaN"),
    (_set("verdict_head", torch.zeros(3)), r"verdict head"),
    (_set("verdict_head", {"mean": torch.zeros(3), "scale": torch.ones(3), "weights": [torch.zeros(11)],
                           "biases": [torch.zeros(11)]}), r"verdict head"),
], ids=["nan weight", "inf weight", "nan code", "label 200", "indices str", "negative index",
        "indices length", "codes width", "codes dtype", "metrics list", "nan in training state",
        "head a tensor", "head weight 1-D"])
def test_implausible_content_is_refused_even_with_a_matching_digest(tmp_path, change, message):
    path = saved(tmp_path)
    rewrite(path, change)
    with pytest.raises(CheckpointError, match=r"model\.pt: .*" + message):
        models.load(path)


# ------------------------------------------------------------------ writing


def test_a_full_disk_gives_a_checkpoint_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = saved(tmp_path)
    before = path.read_bytes()
    fill_disk_after(monkeypatch, capacity=2000)
    with pytest.raises(CheckpointError, match=r"model\.pt: cannot write the checkpoint: No space left on device"):
        models.save(small_model(seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_a_place_that_cannot_be_written_gives_a_checkpoint_error(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(CheckpointError, match=r"a-file/model\.pt: cannot write the checkpoint"):
        models.save(small_model(), tmp_path / "a-file" / "model.pt")
