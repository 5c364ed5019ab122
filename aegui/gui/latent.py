"""Latent-space state and arithmetic of the app, in plain numpy: no Qt, no torch.

* ``Projection``: latent codes to the 2-D latent map and back. A 2-D latent space is its
  own map; larger ones are shown by their first two principal components, fitted on the
  model's reference codes (MNIST test digits), and a point of the map decodes through
  the inverse projection (the point on that plane).
* ``MapLayout`` and ``fit_map``: the latent map of a model, its reference digits placed
  by a projection, with the range to show; the session holds one (``Session.map``) and
  asks it where a code lies (``forward``) and which code a point is (``inverse``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MapLayout", "Projection", "fit_map", "nice_limit", "symmetric_limit"]


@dataclass(frozen=True, eq=False)
class Projection:
    """``xy = (z - mean) @ components.T``; ``z = mean + xy @ components`` (rows orthonormal)."""

    mean: np.ndarray          # (Z,)
    components: np.ndarray    # (2, Z)
    axis_names: tuple[str, str]

    @classmethod
    def fit(cls, latent_dim: int, codes: np.ndarray | None = None) -> Projection:
        """The latent plane itself when ``latent_dim`` is 2 (or 1: the line and zero),
        the first two principal components of ``codes`` when there are enough, else the
        plane of the first two coordinates."""
        eye = np.eye(max(latent_dim, 2), dtype=np.float64)[:2, :latent_dim]
        zero = np.zeros(latent_dim)
        if latent_dim <= 2:
            return cls(zero, eye, ("z₀", "z₁"))
        if codes is None or len(codes) < 3:
            return cls(zero, eye, ("z₀", "z₁"))
        codes = np.asarray(codes, np.float64)
        mean = codes.mean(axis=0)
        # Rows of vt are the principal directions, by decreasing variance.
        _, _, vt = np.linalg.svd(codes - mean, full_matrices=False)
        components = vt[:2]
        # Fix each component's sign (SVD's is arbitrary) so the map does not flip
        # between runs: its largest coordinate is positive.
        signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
        return cls(mean, components * signs[:, None], ("PC 1", "PC 2"))

    def forward(self, z) -> np.ndarray:
        """(..., Z) codes -> (..., 2) map points."""
        return (np.asarray(z, np.float64) - self.mean) @ self.components.T

    def inverse(self, xy) -> np.ndarray:
        """(..., 2) map points -> (..., Z) codes on the projection plane, float32."""
        return (self.mean + np.asarray(xy, np.float64) @ self.components).astype(np.float32)


@dataclass(frozen=True, eq=False)
class MapLayout:
    """A model's latent map: the reference digits' ``points`` (N, 2) and ``labels`` (N,)
    (None without reference codes), the ``extent`` (x0, x1, y0, y1) to show, and the
    projection that places codes on it and maps points back."""

    projection: Projection
    points: np.ndarray | None
    labels: np.ndarray | None
    extent: tuple[float, float, float, float]

    @property
    def axis_names(self) -> tuple[str, str]:
        return self.projection.axis_names

    def forward(self, z) -> np.ndarray:
        """(..., Z) codes -> (..., 2) map points."""
        return self.projection.forward(z)

    def inverse(self, xy) -> np.ndarray:
        """(..., 2) map points -> (..., Z) codes, float32."""
        return self.projection.inverse(xy)


def fit_map(codes: np.ndarray | None, labels: np.ndarray | None, latent_dim: int) -> MapLayout:
    """The latent map of a model whose reference digits have ``codes`` (N, Z) and
    ``labels`` (or none): see ``Projection.fit``; the extent holds 99 % of the points with
    a margin."""
    projection = Projection.fit(latent_dim, codes)
    if codes is None or not len(codes):
        return MapLayout(projection, None, None, (-1.0, 1.0, -1.0, 1.0))
    points = projection.forward(codes).astype(np.float32)
    lo = np.percentile(points, 0.5, axis=0)
    hi = np.percentile(points, 99.5, axis=0)
    pad = (hi - lo) * 0.08
    extent = (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1]))
    return MapLayout(projection, points, np.asarray(labels).astype(np.intp), extent)


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
