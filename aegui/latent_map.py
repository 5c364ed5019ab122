"""The latent map: a model's reference digits laid out in two dimensions, and how any
code is placed on it (the live star) and how a point of it becomes a code (a click).

Three kinds of map, all with the same two methods, ``place(z) -> (x, y)`` and
``code_at(x, y) -> z``:

* ``plane``: a model with a 2-D code is its own map (exact both ways);
* ``linear``: the reference codes' first two principal components (``Projection``),
  exact both ways, its axes labelled with the share of the variance they explain. It
  hides most of the structure of a larger code (10-NN label agreement about 40%);
* ``neighbours``: a neighbour-preserving layout of the reference codes
  (``aegui.embedding``), computed once per model and stored with it. It has no formula
  for a new code, so a code is placed at the mean of the map points of its
  ``PLACE_NEIGHBOURS`` nearest reference codes, weighted by inverse squared distance
  (a reference code lands exactly on its own point; a drawing between two clusters lands
  between them); a map point decodes to the same blend of the codes of its nearest
  reference *points* (clicking a reference digit decodes exactly its code).

Plain numpy: placing the star costs a distance to each reference code and a partial
sort, tens of microseconds for 5,000 codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KINDS", "LatentMap", "MapViews", "PLACE_NEIGHBOURS", "Projection", "linear_map", "neighbour_map",
           "plane_map", "robust_range"]

KINDS = ("plane", "linear", "neighbours")
PLACE_NEIGHBOURS = 8
# Squared distances below this share of the codes' mean squared norm count as exact hits.
_EXACT = 1e-12


@dataclass(frozen=True, eq=False)
class Projection:
    """``xy = (z - mean) @ components.T``; ``z = mean + xy @ components`` (rows orthonormal).
    ``explained``: the share of the codes' variance along each axis (None for the plane)."""

    mean: np.ndarray          # (Z,)
    components: np.ndarray    # (2, Z)
    axis_names: tuple[str, str]
    explained: tuple[float, float] | None = None

    @classmethod
    def fit(cls, latent_dim: int, codes: np.ndarray | None = None) -> Projection:
        """The latent plane itself when ``latent_dim`` is 2 (or 1: the line and zero),
        the first two principal components of ``codes`` when there are enough, else the
        plane of the first two coordinates."""
        eye = np.eye(max(latent_dim, 2), dtype=np.float64)[:2, :latent_dim]
        zero = np.zeros(latent_dim)
        if latent_dim <= 2 or codes is None or len(codes) < 3:
            return cls(zero, eye, ("z₀", "z₁"))
        codes = np.asarray(codes, np.float64)
        mean = codes.mean(axis=0)
        # Rows of vt are the principal directions, by decreasing variance.
        _, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
        components = vt[:2]
        # Fix each component's sign (SVD's is arbitrary) so the map does not flip
        # between runs: its largest coordinate is positive.
        signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
        variance = s ** 2
        share = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
        names = tuple(f"PC {i + 1} ({share[i]:.0%} of the variance)" for i in range(2))
        return cls(mean, components * signs[:, None], names, (float(share[0]), float(share[1])))

    def forward(self, z) -> np.ndarray:
        """(..., Z) codes -> (..., 2) map points."""
        return (np.asarray(z, np.float64) - self.mean) @ self.components.T

    def inverse(self, xy) -> np.ndarray:
        """(..., 2) map points -> (..., Z) codes on the projection plane, float32."""
        return (self.mean + np.asarray(xy, np.float64) @ self.components).astype(np.float32)


@dataclass(frozen=True, eq=False)
class LatentMap:
    """The reference digits' ``codes`` (N, Z) and ``labels`` (N,), their map points ``xy``
    (N, 2), the ``kind`` of map and its axis names; ``projection`` for the exact kinds."""

    kind: str
    codes: np.ndarray
    labels: np.ndarray
    xy: np.ndarray
    axis_names: tuple[str, str]
    projection: Projection | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"map kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.xy.shape != (len(self.codes), 2) or self.labels.shape != (len(self.codes),):
            raise ValueError(f"expected (N, 2) map points and (N,) labels for {len(self.codes)} codes, "
                             f"got {self.xy.shape} and {self.labels.shape}")
        if self.kind != "neighbours" and self.projection is None:
            raise ValueError(f"a {self.kind} map needs its projection")
        if self.kind == "neighbours" and len(self.codes) == 0:
            raise ValueError("a neighbour map needs reference codes")
        # Precomputed for place(): |c|^2 for the expanded squared distance.
        object.__setattr__(self, "_norms", np.einsum("ij,ij->i", self.codes, self.codes))
        scale = float(self._norms.mean()) if len(self.codes) else 1.0
        object.__setattr__(self, "_exact", _EXACT * max(scale, 1e-30))

    @property
    def latent_dim(self) -> int:
        return self.codes.shape[1]

    def place(self, z) -> np.ndarray:
        """The map point (2,) of a code (Z,)."""
        if self.projection is not None:
            return self.projection.forward(np.asarray(z, np.float64).reshape(-1))
        z = np.asarray(z, np.float32).reshape(-1)
        d2 = self._norms - 2.0 * (self.codes @ z) + float(z @ z)
        return _blend(d2, self.xy, self._exact)

    def code_at(self, xy) -> np.ndarray:
        """A code (Z,) float32 for a map point (x, y): see the module docstring."""
        xy = np.asarray(xy, np.float64).reshape(2)
        if self.projection is not None:
            return self.projection.inverse(xy)
        d2 = ((self.xy - xy) ** 2).sum(axis=1)
        scale = float((self.xy ** 2).sum(axis=1).mean()) if len(self.xy) else 1.0
        return _blend(d2, self.codes, _EXACT * max(scale, 1e-30)).astype(np.float32)


    # The layout interface the app's session uses (``aegui.session``): points, extent,
    # forward for codes of any batch shape, inverse for points.

    @property
    def points(self) -> np.ndarray:
        return self.xy

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return robust_range(self.xy)

    def forward(self, z) -> np.ndarray:
        """(..., Z) codes -> (..., 2) map points."""
        z = np.asarray(z, np.float32)
        if self.projection is not None or z.ndim == 1:
            return self.place(z) if z.ndim == 1 else self.projection.forward(z)
        flat = z.reshape(-1, z.shape[-1])
        return np.stack([self.place(row) for row in flat]).reshape(*z.shape[:-1], 2)

    def inverse(self, xy) -> np.ndarray:
        """(..., 2) map points -> (..., Z) codes, float32."""
        xy = np.asarray(xy, np.float64)
        if self.projection is not None:
            return self.projection.inverse(xy)
        flat = xy.reshape(-1, 2)
        return np.stack([self.code_at(p) for p in flat]).reshape(*xy.shape[:-1], -1)


@dataclass(frozen=True, eq=False)
class MapViews:
    """A model's maps (``views``: "map", the neighbour map or the plane of a 2-D code, and
    "linear") with the one shown (``view``), acting as that one (``points``, ``labels``,
    ``extent``, ``axis_names``, ``forward``, ``inverse``); ``plane`` is the linear one (or
    the plane), which the manifold grid spans; ``images`` the reference digits' pictures
    (N, 28, 28) when the codes are theirs."""

    views: dict
    view: str
    images: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.view not in self.views:
            raise ValueError(f"no {self.view!r} view; the views are {', '.join(self.views) or 'none'}")

    def with_view(self, name: str) -> MapViews:
        return MapViews(self.views, name, self.images)

    @property
    def shown(self) -> LatentMap:
        return self.views[self.view]

    @property
    def plane(self) -> LatentMap:
        return self.views.get("linear", self.views.get("map"))

    points = property(lambda self: self.shown.points)
    labels = property(lambda self: self.shown.labels)
    codes = property(lambda self: self.shown.codes)
    extent = property(lambda self: self.shown.extent)
    axis_names = property(lambda self: self.shown.axis_names)

    def forward(self, z) -> np.ndarray:
        return self.shown.forward(z)

    def inverse(self, xy) -> np.ndarray:
        return self.shown.inverse(xy)


def robust_range(xy, low: float = 0.5, high: float = 99.5, pad: float = 0.08) -> tuple[float, float, float, float]:
    """x0, x1, y0, y1 holding the points between the ``low`` and ``high`` percentiles on
    each axis, padded by ``pad`` of the span: a few far outliers do not set the scale."""
    xy = np.asarray(xy, np.float64)
    xy = xy[np.isfinite(xy).all(axis=1)] if len(xy) else xy
    if len(xy) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo, hi = np.percentile(xy, low, axis=0), np.percentile(xy, high, axis=0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def _blend(d2: np.ndarray, values: np.ndarray, exact: float) -> np.ndarray:
    """Inverse-squared-distance mean of the ``values`` rows of the PLACE_NEIGHBOURS
    smallest ``d2``; the row itself when the nearest is (numerically) at distance 0."""
    k = min(PLACE_NEIGHBOURS, len(d2))
    nearest = np.argpartition(d2, k - 1)[:k] if k < len(d2) else np.arange(len(d2))
    dist = np.maximum(d2[nearest], 0.0)
    first = nearest[np.argmin(dist)]
    if dist.min() <= exact:
        return np.asarray(values[first], np.float64)
    weights = 1.0 / dist
    return (weights @ np.asarray(values[nearest], np.float64)) / weights.sum()


def plane_map(codes, labels) -> LatentMap:
    """A model whose code is 2-D (or 1-D): the code is the map."""
    codes = np.ascontiguousarray(codes, np.float32)
    projection = Projection.fit(codes.shape[1])
    xy = projection.forward(codes).astype(np.float32)
    return LatentMap("plane", codes, np.asarray(labels), xy, projection.axis_names, projection,
                     "the latent plane itself")


def linear_map(codes, labels) -> LatentMap:
    """The linear view: the reference codes' two principal components."""
    codes = np.ascontiguousarray(codes, np.float32)
    if codes.shape[1] <= 2:
        return plane_map(codes, labels)
    projection = Projection.fit(codes.shape[1], codes)
    xy = projection.forward(codes).astype(np.float32)
    share = sum(projection.explained or (0.0, 0.0))
    return LatentMap("linear", codes, np.asarray(labels), xy, projection.axis_names, projection,
                     f"linear view: the codes' two principal components, PC 1 and PC 2, which show "
                     f"{share:.0%} of their variance")


def neighbour_map(codes, labels, xy) -> LatentMap:
    """The neighbour-preserving map: ``xy`` (N, 2) computed by ``aegui.embedding``."""
    codes = np.ascontiguousarray(codes, np.float32)
    return LatentMap("neighbours", codes, np.asarray(labels), np.ascontiguousarray(xy, np.float32),
                     ("map x (no units: neighbours stay neighbours)", "map y"), None,
                     "neighbour map: nearby dots are similar codes; the distances between clusters "
                     "mean little")
