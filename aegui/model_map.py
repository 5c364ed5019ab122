"""A model's reference codes and latent map: made, stored, cached, and turned into views.

Every model gets the same reference digits (``aegui.reference``) encoded by its own
weights, and (for Z > 2) their neighbour-preserving map (``aegui.embedding``):

* ``map_reference(model)`` computes both: what ``aegui train``, fine-tuning and
  ``aegui eval --update`` store in the checkpoint (``model.reference``);
* ``stored_reference(model)`` gives them without computing anything slow: the model's own
  (from its checkpoint) when they cover the reference digits, else the user cache's;
  None means ``map_reference`` must run (the app runs it in the background, then
  ``cache_reference`` keeps the result, so it runs once per set of weights);
* ``views(reference)`` makes the ``LatentMap``s the app shows: the neighbour map (or the
  latent plane of a 2-D code) and the linear view.

The cache: ``<cache>/maps/<weights sha256>-<reference sha256>.npz`` (``AEGUI_CACHE_DIR``,
else ``XDG_CACHE_HOME``/aegui, else ``~/.cache/aegui``), plain arrays read with
``allow_pickle=False``, written atomically.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from aegui import embedding
from aegui.atomic_files import write_bytes_atomic
from aegui.latent_map import LatentMap, linear_map, neighbour_map, plane_map
from aegui.models import Reference
from aegui.models.checkpoint import weights_digest
from aegui.ops._extension import cache_root
from aegui.reference import ReferenceDigits, load_reference

__all__ = ["cache_path", "cache_reference", "covers_reference", "encode_reference", "map_reference",
           "stored_reference", "views", "write_cache"]

MAP_SEED = 0


def encode_reference(model, digits: ReferenceDigits | None = None, batch_size: int = 1000) -> Reference:
    """The reference digits' codes (a VAE's: the means) under ``model``, without a map."""
    digits = digits if digits is not None else load_reference()
    device = next(model.parameters()).device
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(digits), batch_size):
            x = torch.from_numpy(np.array(digits.images[start:start + batch_size])).to(device)
            chunks.append(model.encode(x.reshape(-1, 1, 28, 28).float().div_(255)).float().cpu())
    codes = torch.cat(chunks).numpy().astype(np.float32)
    return Reference(codes=codes, labels=np.array(digits.labels), indices=np.array(digits.indices))


def map_reference(model, digits: ReferenceDigits | None = None, init=None, should_stop=None) -> Reference:
    """The reference codes and (for Z > 2) their map, ``init`` (N, 2) being a layout to
    start from (a fine-tuned model's parent's map, so the map keeps its shape)."""
    digits = digits if digits is not None else load_reference()
    reference = encode_reference(model, digits)
    if reference.codes.shape[1] <= 2:
        return reference
    xy = embedding.embed(reference.codes, seed=MAP_SEED, init=init, should_stop=should_stop)
    settings = {**embedding.settings(), "seed": MAP_SEED, "reference_sha256": digits.sha256}
    return Reference(codes=reference.codes, labels=reference.labels, indices=reference.indices, xy=xy,
                     map_settings=settings)


def covers_reference(reference: Reference | None, digits: ReferenceDigits | None = None) -> bool:
    """Whether ``reference`` holds codes of all the reference digits and, for Z > 2, their map."""
    if reference is None:
        return False
    digits = digits if digits is not None else load_reference()
    if len(reference.codes) != len(digits) or not np.array_equal(reference.indices, digits.indices):
        return False
    return reference.codes.shape[1] <= 2 or reference.xy is not None


def stored_reference(model, digits: ReferenceDigits | None = None) -> Reference | None:
    """The model's reference codes and map when it carries them, else the cached ones, else
    None. Fast: nothing is encoded or laid out here."""
    digits = digits if digits is not None else load_reference()
    own = getattr(model, "reference", None)
    if covers_reference(own, digits):
        return own
    path = cache_path(model, digits)
    cached = _read_cache(path) if path is not None else None
    return cached if covers_reference(cached, digits) else None


def cache_reference(model, reference: Reference, digits: ReferenceDigits | None = None) -> Path | None:
    """Keep ``reference`` in the user cache under the model's weights (atomically)."""
    path = cache_path(model, digits)
    if path is not None:
        write_cache(path, reference.codes, reference.labels, reference.xy, reference.indices,
                    reference.map_settings)
    return path


def write_cache(path, codes, labels, xy, indices=None, settings: dict | None = None) -> None:
    """Write a cache entry: the reference digits' codes (``indices``: their rows, by
    default the shipped set's), labels and map points ``xy`` (or None), atomically."""
    if indices is None:
        indices = load_reference().indices
    if settings is None:
        settings = {**embedding.settings(), "seed": MAP_SEED}
    arrays = {"codes": np.asarray(codes, np.float32), "labels": np.asarray(labels).astype(np.uint8),
              "indices": np.asarray(indices, np.int64), "settings": np.array(json.dumps(settings))}
    if xy is not None:
        arrays["xy"] = np.asarray(xy, np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def cache_path(model, digits: ReferenceDigits | None = None) -> Path | None:
    """Where the cache keeps this model's reference codes and map (None for an object that
    is not a torch module: nothing to name its weights by)."""
    if not callable(getattr(model, "state_dict", None)):
        return None
    digits = digits if digits is not None else load_reference()
    return cache_root() / "maps" / f"{weights_digest(model.state_dict())[:32]}-{digits.sha256[:16]}.npz"


def _read_cache(path: Path) -> Reference | None:
    """A cached reference, or None when absent or unreadable (then it is made again)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            codes, labels, indices = npz["codes"], npz["labels"], npz["indices"]
            xy = npz["xy"] if "xy" in npz.files else None
            settings = json.loads(str(npz["settings"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    n = len(codes)
    if (codes.dtype != np.float32 or codes.ndim != 2 or labels.shape != (n,) or indices.shape != (n,)
            or (xy is not None and (xy.shape != (n, 2) or not np.isfinite(xy).all()))
            or not isinstance(settings, dict)):
        return None
    return Reference(codes=codes, labels=labels.astype(np.uint8), indices=indices.astype(np.int64),
                     xy=None if xy is None else xy.astype(np.float32), map_settings=settings)


def views(reference: Reference | None, latent_dim: int) -> dict[str, LatentMap]:
    """The maps the app can show: ``"map"`` (the neighbour map; for a 2-D code the latent
    plane, and nothing else) and ``"linear"`` (principal components). Empty without
    reference codes; without a neighbour map yet, only ``"linear"``."""
    if reference is None or len(reference.codes) == 0:
        return {}
    codes, labels = reference.codes, np.asarray(reference.labels).astype(np.intp)
    if latent_dim <= 2:
        return {"map": plane_map(codes, labels)}
    out = {"linear": linear_map(codes, labels)}
    if reference.xy is not None:
        out["map"] = neighbour_map(codes, labels, reference.xy)
    return out
