"""Checkpoint files: one self-describing file per model, written atomically, read safely.

A checkpoint is a ``torch.save`` of one plain dict:

    format     "aegui-checkpoint"       so a foreign file is told apart from a damaged one
    version    2 (1: the shipped zoo's files, still read; see below)
    config     ModelConfig as a dict    enough to rebuild the modules
    state_dict the weights (float32 tensors)
    digest     sha256 over every other record (version 1: over the weights only)
    metadata   training facts: data file hash, epochs, seed, time, versions, command
    metrics    evaluation results (``aegui eval``), maybe empty
    reference  {codes, labels, indices} of the reference digits (MNIST test), or None
    map        {xy, method, settings...}: the reference digits' points on the latent map
               (``aegui.embedding``), or None; absent in files written before it existed
    verdict_head  {mean, scale, weights, biases} of the verdict head (aegui.verdict), or None
    training   what resuming needs (optimizer, RNG, position), or None once training ended

Reading verifies the whole file, then what it holds, before building anything from it:

1. the zip container (``integrity.check_archive``): no compressed record, no declared size
   beyond the file's, every record's CRC-32 right, so a flipped bit anywhere is caught;
2. ``torch.load(weights_only=True)``: the unpickler accepts tensors and plain containers
   only and refuses any other global *before* calling it, so a file whose pickle would run
   code (a ``__reduce__`` that opens a file, say) runs nothing;
3. every record walked with bounded depth and item count, each tensor's declared size
   checked against what it stores, and the digest over all records compared (version 1:
   the weights' digest);
4. plausibility: a config within what a model of this app can be (checked before the
   model is built), weights of exactly the config's names and shapes, finite numbers
   everywhere, reference codes (N, Z) float32 with labels 0..9 and indices >= 0.

Whatever is wrong raises ``CheckpointError`` naming the file and what was expected.
Writing a new file always writes the current version; a write that fails (a full disk, no
permission) raises ``CheckpointError`` and leaves any file already there as it was.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic_files import atomic_write
from ..errors import InputError, describe, first_line
from . import integrity
from ..verdict import VerdictHead
from .autoencoder import Autoencoder, ModelConfig, Reference, build

__all__ = ["Checkpoint", "CheckpointError", "payload_digest", "read_checkpoint", "save", "weights_digest",
           "write_checkpoint"]

FORMAT = "aegui-checkpoint"
VERSION = 2
READS = (1, 2)
# The rows of a data set's test split a reference can point at: MNIST has 10,000; the
# bound only keeps a damaged index from passing for one.
MAX_REFERENCE = 1_000_000


class CheckpointError(InputError):
    """A checkpoint could not be read or written; the message names the file and why."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds, rebuilt: the model (with metadata, metrics and
    reference attached) and, for an unfinished run, the state to resume it."""

    model: Autoencoder
    training: dict | None
    path: Path


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the weights' names, dtypes, shapes and bytes, in name order (the digest
    of version 1 files)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def payload_digest(payload: dict) -> str:
    """sha256 over every record of a checkpoint's payload but ``digest`` itself (the digest
    of version 2 files): records added later are covered too."""
    return integrity.inspect(payload).digest


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
    map_record = None
    if model.reference is not None and model.reference.xy is not None:
        map_record = {**_plain(model.reference.map_settings, "map settings"),
                      "xy": torch.from_numpy(np.ascontiguousarray(model.reference.xy, np.float32))}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state_dict": state,
        "metadata": metadata,
        "metrics": metrics,
        "reference": reference,
        "map": map_record,
        "verdict_head": _head_record(getattr(model, "verdict_head", None)),
        "training": training,
    }
    payload["digest"] = payload_digest(payload)
    _atomic_torch_save(payload, path)
    return path


def read_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", name: str = "") -> Checkpoint:
    """Read and verify a checkpoint file (see the module docstring); rebuild its model on
    ``device`` in eval mode."""
    path = Path(path)
    where = str(path)
    raw = _safe_torch_load(path)
    _check_layout(raw, where)
    _check_records(raw, where)
    try:
        config = ModelConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: damaged checkpoint: bad model config: {err}") from None
    state = raw["state_dict"]
    _check_weights_fit(state, config, where)
    model = build(config, name=name or path.stem)
    model.load_state_dict(state, strict=True)
    model.metadata = raw["metadata"]
    model.metrics = raw["metrics"]
    model.reference = _reference(raw["reference"], raw.get("map"), config.latent_dim, where)
    model.verdict_head = _verdict_head(raw.get("verdict_head"), config.latent_dim, where)
    model.to(device).eval()
    return Checkpoint(model=model, training=raw["training"], path=path)


# ------------------------------------------------------------------------ checks


def _check_layout(raw, where: str) -> None:
    """The top level: our format, a version this code reads, each record of its type."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = f"a {type(raw).__name__}" if not isinstance(raw, dict) else \
            f"a dict with keys {', '.join(map(str, list(raw)[:8])) or 'none'}"
        raise CheckpointError(f"{where}: not an aegui checkpoint (found {found}); expected a file "
                              f"written by `aegui train` or aegui.models.save")
    version = raw.get("version")
    if type(version) is not int or version not in READS:
        raise CheckpointError(f"{where}: checkpoint format version {version!r}; this aegui reads "
                              f"versions {', '.join(map(str, READS))} (a newer aegui wrote it?)")
    for key, kind in (("config", dict), ("state_dict", dict), ("digest", str), ("metadata", dict),
                      ("metrics", dict), ("reference", dict | None), ("training", dict | None)):
        if not isinstance(raw.get(key), kind):
            what = kind.__name__ if isinstance(kind, type) else str(kind).replace("NoneType", "None")
            raise CheckpointError(f"{where}: damaged checkpoint: {key!r} is missing or not a {what}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in raw["state_dict"].items()):
        raise CheckpointError(f"{where}: damaged checkpoint: state_dict holds non-tensors")


def _check_records(raw: dict, where: str) -> None:
    """Every record walked (bounded), the digest compared, then no NaN or inf anywhere."""
    try:
        found = integrity.inspect(raw)
    except integrity.RecordError as err:
        raise CheckpointError(f"{where}: damaged checkpoint: {err}") from None
    if raw["version"] >= 2:
        if found.digest != raw["digest"]:
            raise CheckpointError(f"{where}: corrupt checkpoint: its records do not match their recorded "
                                  f"sha256 (the file was changed after it was written)")
    elif weights_digest(raw["state_dict"]) != raw["digest"]:
        raise CheckpointError(f"{where}: corrupt checkpoint: the weights do not match their recorded "
                              f"sha256 (the file was damaged after it was written)")
    if found.nonfinite:
        first = found.nonfinite[0]
        what = f"weight {first.removeprefix('state_dict.')!r}" if first.startswith("state_dict.") else \
            "the reference codes" if first == "reference.codes" else f"record {first}"
        raise CheckpointError(f"{where}: damaged checkpoint: {what} holds NaN or infinite values")


def _check_weights_fit(state: dict, config: ModelConfig, where: str) -> None:
    """The weights have exactly the names, shapes and dtypes of the config's model (worked
    out on the meta device, which allocates nothing)."""
    with torch.device("meta"):
        expected = build(config).state_dict()
    problems = [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [f"{k}: {tuple(state[k].shape)} {state[k].dtype}, expected {tuple(v.shape)} {v.dtype}"
                 for k, v in expected.items() if k in state
                 and (state[k].shape != v.shape or state[k].dtype != v.dtype)]
    if problems:
        raise CheckpointError(f"{where}: the weights do not fit the model config {config.describe()}: "
                              f"{'; '.join(problems[:3])}" + (" ..." if len(problems) > 3 else ""))


def _reference(raw, raw_map, latent_dim: int, where: str) -> Reference | None:
    if raw is None:
        return None
    bad = f"{where}: damaged checkpoint: the reference"
    codes, labels = raw.get("codes"), raw.get("labels")
    indices = raw.get("indices", torch.zeros(0, dtype=torch.int64))
    if not (isinstance(codes, torch.Tensor) and codes.dtype == torch.float32 and codes.dim() == 2
            and codes.shape[1] == latent_dim and 0 < len(codes) <= MAX_REFERENCE):
        raise CheckpointError(f"{bad} codes are not (N, {latent_dim}) float32 with 0 < N <= {MAX_REFERENCE:,}")
    n = len(codes)
    if not (isinstance(labels, torch.Tensor) and labels.dtype == torch.uint8 and labels.shape == (n,)):
        raise CheckpointError(f"{bad} labels are not ({n},) uint8, one per code")
    if int(labels.max()) > 9:
        raise CheckpointError(f"{bad} labels are not digits 0..9 (found {int(labels.max())})")
    if not (isinstance(indices, torch.Tensor) and indices.dtype == torch.int64 and indices.dim() == 1):
        raise CheckpointError(f"{bad} indices are not a 1-D int64 tensor (found {type(indices).__name__})")
    if len(indices) not in (0, n):
        raise CheckpointError(f"{bad} indices are {len(indices)} for {n} codes; expected one per code or none")
    if len(indices) and not 0 <= int(indices.min()) <= int(indices.max()) < MAX_REFERENCE:
        raise CheckpointError(f"{bad} indices range {int(indices.min())}..{int(indices.max())}; expected "
                              f"rows 0..{MAX_REFERENCE - 1:,} of a test split")
    xy, settings = _map_record(raw_map, n, where)
    return Reference(codes=codes.numpy(), labels=labels.numpy(), indices=indices.numpy(), xy=xy,
                     map_settings=settings)


def _map_record(raw, count: int, where: str) -> tuple[np.ndarray | None, dict]:
    """The map record: finite float32 ``xy`` (N, 2) for the N reference codes, and the
    plain settings beside it."""
    if raw is None:
        return None, {}
    xy = raw.get("xy") if isinstance(raw, dict) else None
    if not (isinstance(xy, torch.Tensor) and xy.dtype == torch.float32 and xy.shape == (count, 2)
            and bool(torch.isfinite(xy).all())):
        raise CheckpointError(f"{where}: damaged checkpoint: the latent map is not finite (N, 2) float32 "
                              f"for the {count} reference codes")
    settings = {k: v for k, v in raw.items() if k != "xy"}
    if not all(isinstance(v, (str, int, float, bool)) for v in settings.values()):
        raise CheckpointError(f"{where}: damaged checkpoint: the latent map's settings are not plain values")
    return xy.numpy(), settings


def _head_record(head) -> dict | None:
    """A verdict head as plain tensors and lists (what weights-only loading accepts)."""
    if head is None:
        return None
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))  # noqa: E731
    record = {"mean": as_tensor(head.mean), "scale": as_tensor(head.scale),
              "weights": [as_tensor(w) for w, _ in head.layers], "biases": [as_tensor(b) for _, b in head.layers]}
    if math.isfinite(head.max_sse):
        record["max_sse"] = float(head.max_sse)
    return record


def _verdict_head(raw, latent_dim: int, where: str) -> VerdictHead | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, dict):
            raise TypeError(f"a {type(raw).__name__}, not a record")
        arrays = [raw["mean"], raw["scale"], *raw["weights"], *raw["biases"]]
        if not all(isinstance(t, torch.Tensor) and t.dtype == torch.float32 for t in arrays) \
                or len(raw["weights"]) != len(raw["biases"]):
            raise ValueError("not float32 tensors in matching lists")
        max_sse = raw.get("max_sse", math.inf)
        if type(max_sse) is not float:
            raise ValueError(f"max_sse is a {type(max_sse).__name__}, not a float")
        head = VerdictHead(mean=raw["mean"].numpy(), scale=raw["scale"].numpy(),
                           layers=tuple((w.numpy(), b.numpy()) for w, b in zip(raw["weights"], raw["biases"])),
                           max_sse=max_sse)
        if head.latent_dim != latent_dim:
            raise ValueError(f"it reads codes of {head.latent_dim} values")
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{where}: damaged checkpoint: the verdict head does not fit a "
                              f"{latent_dim}-value code ({err})") from None
    return head


# ------------------------------------------------------------------------ helpers


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


class _Recording:
    """The stream torch.save writes to, remembering the OSError of a failed write: torch
    reports it only as 'unexpected pos' from its C++ writer."""

    def __init__(self, stream):
        self.stream = stream
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.stream.write(data)
        except OSError as err:
            self.error = self.error or err
            raise

    def flush(self) -> None:
        self.stream.flush()


def _atomic_torch_save(payload: dict, path: Path) -> None:
    recording = None
    try:
        with atomic_write(path) as stream:
            recording = _Recording(stream)
            torch.save(payload, recording)
    except (OSError, RuntimeError) as err:
        cause = recording.error if recording is not None and recording.error is not None else err
        kept = "the file there is unchanged" if path.exists() else "nothing was written"
        raise CheckpointError(f"{path}: cannot write the checkpoint: {_reason(cause)} ({kept})") from None


def _reason(err: BaseException) -> str:
    """An OS error's reason without its path (the message names the file already)."""
    return err.strerror if isinstance(err, OSError) and err.strerror else describe(err)


def _safe_torch_load(path: Path):
    where = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no such checkpoint file") from None
    except OSError as err:
        raise CheckpointError(f"{where}: cannot read: {_reason(err)}") from None
    if path.is_dir():
        raise CheckpointError(f"{where}: is a directory, not a checkpoint file")
    if size == 0:
        raise CheckpointError(f"{where}: empty file (0 bytes); expected an aegui checkpoint")
    try:
        integrity.check_archive(path, size)
    except integrity.ArchiveError as err:
        raise CheckpointError(f"{where}: {err}") from None
    try:
        with warnings.catch_warnings():
            # A pickle not written by torch.save draws a warning about its protocol before
            # the refusal or error below, which says all there is to say.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{where}: {_unpickling_problem(err)}") from None
    except Exception as err:  # noqa: BLE001 - torch's unpickler raises many kinds on a garbled pickle
        raise CheckpointError(f"{where}: damaged checkpoint, or not one ({type(err).__name__}: "
                              f"{_first_sentence(err)})") from None


_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def _unpickling_problem(err: Exception) -> str:
    """What the weights-only unpickler refused, without torch's advice on loading the file
    anyway (which would run whatever it asks for)."""
    text = str(err)
    if named := _GLOBAL.search(text):
        return (f"refused: it asks for the Python object {named.group(1)}, which aegui checkpoints never "
                f"hold (damaged, or not made by aegui); nothing of it was loaded or called")
    detail = next((line.split("WeightsUnpickler error:", 1)[1].strip() for line in text.splitlines()
                   if "WeightsUnpickler error:" in line), "")
    if not detail and "weights only" not in text.lower():
        detail = _first_sentence(err)
    return f"damaged checkpoint, or not one: its pickle is unreadable" + (f" ({detail})" if detail else "")


def _first_sentence(err: BaseException) -> str:
    """The first sentence of a library's first line: the rest is advice, not the reason."""
    return first_line(err).split(". ")[0].rstrip(".")
