"""Checkpoint files: one self-describing file per model, written atomically, read safely.

A checkpoint is a ``torch.save`` of one plain dict:

    format     "aegui-checkpoint"       so a foreign file is told apart from a damaged one
    version    1
    config     ModelConfig as a dict    enough to rebuild the modules
    state_dict the weights (float32 tensors)
    digest     sha256 of the weights    catches corruption the zip container lets through
    metadata   training facts: data file hash, epochs, seed, time, versions, command
    metrics    evaluation results (``aegui eval``), maybe empty
    reference  {codes, labels, indices} of MNIST test digits, or None
    training   what resuming needs (optimizer, RNG, position), or None once training ended

Reading uses ``torch.load(weights_only=True)``: the unpickler accepts tensors and plain
containers only and refuses any other global *before* calling it, so a file whose pickle
would run code (a ``__reduce__`` that opens a file, say) raises ``CheckpointError`` and runs
nothing. Every other way a file can be wrong (empty, truncated, not a checkpoint, a
checkpoint of different shapes, flipped bits) raises ``CheckpointError`` too, naming the
file and what was expected.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic_files import atomic_write
from .autoencoder import Autoencoder, ModelConfig, Reference, build

__all__ = ["Checkpoint", "CheckpointError", "read_checkpoint", "save", "weights_digest", "write_checkpoint"]

FORMAT = "aegui-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint could not be read or written; the message names the file and why."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds, rebuilt: the model (with metadata, metrics and
    reference attached) and, for an unfinished run, the state to resume it."""

    model: Autoencoder
    training: dict | None
    path: Path


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the weights' names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save(model: Autoencoder, path: str | os.PathLike, **metadata: Any) -> Path:
    """Write ``model`` (weights, config, ``model.metadata`` updated with ``metadata``,
    ``model.metrics``, ``model.reference``) to ``path`` atomically. Returns the path."""
    merged = {**model.metadata, **metadata}
    return write_checkpoint(path, model, metadata=merged)


def write_checkpoint(path: str | os.PathLike, model: Autoencoder, *, metadata: dict | None = None,
                     metrics: dict | None = None, training: dict | None = None) -> Path:
    """The full writer: ``training`` (optimizer and RNG state) makes the file resumable."""
    path = Path(path)
    metadata = _plain(model.metadata if metadata is None else metadata, "metadata")
    metrics = _plain(model.metrics if metrics is None else metrics, "metrics")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    reference = None
    if model.reference is not None:
        reference = {
            "codes": torch.from_numpy(np.ascontiguousarray(model.reference.codes, np.float32)),
            "labels": torch.from_numpy(np.ascontiguousarray(model.reference.labels, np.uint8)),
            "indices": torch.from_numpy(np.ascontiguousarray(model.reference.indices, np.int64)),
        }
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state_dict": state,
        "digest": weights_digest(state),
        "metadata": metadata,
        "metrics": metrics,
        "reference": reference,
        "training": training,
    }
    _atomic_torch_save(payload, path)
    return path


def read_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", name: str = "") -> Checkpoint:
    """Read and validate a checkpoint file; rebuild its model on ``device`` in eval mode."""
    path = Path(path)
    raw = _safe_torch_load(path)
    where = str(path)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = f"a {type(raw).__name__}" if not isinstance(raw, dict) else \
            f"a dict with keys {', '.join(map(str, list(raw)[:8])) or 'none'}"
        raise CheckpointError(f"{where}: not an aegui checkpoint (found {found}); expected a file "
                              f"written by `aegui train` or aegui.models.save")
    version = raw.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise CheckpointError(f"{where}: checkpoint format version {version!r}; this aegui reads "
                              f"version {VERSION} (a newer aegui wrote it?)")
    for key, kind in (("config", dict), ("state_dict", dict), ("digest", str), ("metadata", dict),
                      ("metrics", dict)):
        if not isinstance(raw.get(key), kind):
            raise CheckpointError(f"{where}: damaged checkpoint: {key!r} is missing or not a {kind.__name__}")
    try:
        config = ModelConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: damaged checkpoint: bad model config: {err}") from None
    state = raw["state_dict"]
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{where}: damaged checkpoint: state_dict holds non-tensors")
    if weights_digest(state) != raw["digest"]:
        raise CheckpointError(f"{where}: corrupt checkpoint: the weights do not match their recorded "
                              f"sha256 (the file was damaged after it was written)")
    model = build(config, name=name or path.stem)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{where}: the weights do not fit the model config "
                              f"{config.describe()}: {_first_line(err)}") from None
    model.metadata = raw["metadata"]
    model.metrics = raw["metrics"]
    model.reference = _reference(raw.get("reference"), config.latent_dim, where)
    training = raw.get("training")
    if training is not None and not isinstance(training, dict):
        raise CheckpointError(f"{where}: damaged checkpoint: 'training' is not a dict")
    model.to(device).eval()
    return Checkpoint(model=model, training=training, path=path)


# ------------------------------------------------------------------------ helpers


def _reference(raw, latent_dim: int, where: str) -> Reference | None:
    if raw is None:
        return None
    try:
        codes, labels = raw["codes"], raw["labels"]
        indices = raw.get("indices", torch.zeros(0, dtype=torch.int64))
        ok = (codes.dtype == torch.float32 and codes.dim() == 2 and codes.shape[1] == latent_dim
              and labels.dtype == torch.uint8 and labels.shape == (codes.shape[0],))
    except (KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise CheckpointError(f"{where}: damaged checkpoint: the reference codes are not (N, {latent_dim}) "
                              f"float32 with (N,) uint8 labels")
    return Reference(codes=codes.numpy(), labels=labels.numpy(), indices=indices.numpy())


def _plain(value, what: str):
    """A copy of ``value`` made of exact str/int/float/bool/None, lists, string-keyed dicts
    and tensors: what ``weights_only`` loading accepts. Subclasses (``torch.__version__``,
    numpy scalars) become their plain base type; anything else is refused here, at save
    time, rather than making a file that cannot be loaded."""
    if value is None or isinstance(value, (bool, torch.Tensor)):
        return value
    if isinstance(value, np.generic):
        return _plain(value.item(), what)
    for base in (int, float, str):
        if isinstance(value, base):
            return base(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, what) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{what}: keys must be strings, got {k!r}")
            out[str(k)] = _plain(v, f"{what}[{k!r}]")
        return out
    raise CheckpointError(f"{what}: {type(value).__name__} cannot go in a checkpoint; use plain "
                          f"str/int/float/bool/None, lists, dicts and tensors")


def _atomic_torch_save(payload: dict, path: Path) -> None:
    with atomic_write(path) as stream:
        torch.save(payload, stream)


def _safe_torch_load(path: Path):
    where = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no such checkpoint file") from None
    except OSError as err:
        raise CheckpointError(f"{where}: cannot read: {err.strerror or err}") from None
    if path.is_dir():
        raise CheckpointError(f"{where}: is a directory, not a checkpoint file")
    if size == 0:
        raise CheckpointError(f"{where}: empty file (0 bytes); expected an aegui checkpoint")
    try:
        with warnings.catch_warnings():
            # A pickle not written by torch.save draws a warning about its protocol before
            # the refusal or error below, which says all there is to say.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower() or "weights_only" in str(err).lower():
            raise CheckpointError(
                f"{where}: refused: the file holds Python objects other than tensors and plain "
                f"data ({_unsupported_global(err)}); loading it could run code, so nothing of it "
                f"was loaded") from None
        raise CheckpointError(f"{where}: not an aegui checkpoint (unreadable pickle: "
                              f"{_first_line(err)})") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, KeyError,
            IndexError, TypeError, AttributeError, UnicodeDecodeError, MemoryError) as err:
        # A truncated zip surfaces as RuntimeError from PyTorchStreamReader, a truncated
        # legacy pickle as EOFError, random bytes as UnpicklingError or ValueError.
        raise CheckpointError(f"{where}: truncated or corrupt checkpoint, or not one "
                              f"({type(err).__name__}: {_first_line(err)})") from None


def _unsupported_global(err: Exception) -> str:
    text = str(err)
    for line in text.splitlines():
        if "Unsupported global" in line or "GLOBAL" in line:
            return line.strip().rstrip(".")
    return _first_line(err)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
