"""Latent-space state and arithmetic of the app, in plain numpy: no Qt, no torch.

* ``fit_map``: the latent map of a model (``aegui.latent_map.MapViews``: the neighbour
  map it carries, or one laid out now, and the linear view; the plane of a 2-D code); the
  session holds one (``Session.map``) and asks it where a code lies (``forward``) and
  which code a point is (``inverse``). ``Projection`` is ``aegui.latent_map``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aegui.latent_map import MapViews, Projection, linear_map, neighbour_map, plane_map

__all__ = ["MapViews", "Projection", "fit_map", "nice_limit", "symmetric_limit"]


def fit_map(codes: np.ndarray | None, labels: np.ndarray | None, latent_dim: int, xy=None,
            cache: str | None = None, images=None) -> MapViews | None:
    """The latent map of a model whose reference digits have ``codes`` (N, Z) and
    ``labels`` (None without them): the plane of a 2-D code; else the neighbour map of
    the points ``xy`` (N, 2) the model carries, or laid out here (``aegui.embedding``,
    seconds: this runs on a thread of its own) and written to ``cache`` (a path, or None),
    with the linear view beside it. ``images``: the digits' pictures, for hovering."""
    if codes is None or not len(codes):
        return None
    codes = np.ascontiguousarray(codes, np.float32)
    labels = np.asarray(labels).astype(np.intp)
    if latent_dim <= 2:
        return MapViews({"map": plane_map(codes, labels)}, "map", images)
    if xy is None:
        xy = _lay_out(codes, labels, cache)
    views = {"map": neighbour_map(codes, labels, xy), "linear": linear_map(codes, labels)}
    return MapViews(views, "map", images)


def _lay_out(codes: np.ndarray, labels: np.ndarray, cache: str | None) -> np.ndarray:
    from aegui import embedding
    from aegui.model_map import write_cache

    xy = embedding.embed(codes)
    if cache is not None:
        write_cache(cache, codes, labels, xy)
    return xy


def nice_limit(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten that is >= value."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def symmetric_limit(values, margin: float = 1.15, percentile: float = 99.5) -> float:
    """A symmetric axis limit that holds nearly all ``values`` with some margin."""
    values = np.abs(np.asarray(values, np.float64).ravel())
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0
    return nice_limit(float(np.percentile(values, percentile)) * margin)
