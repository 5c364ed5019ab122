"""Latent-space state and arithmetic of the app, in plain numpy: no Qt, no torch.

* ``Projection``: latent codes to the 2-D latent map and back. A 2-D latent space is its
  own map; larger ones are shown by their first two principal components, fitted on the
  model's reference codes (MNIST test digits), and a point of the map decodes through
  the inverse projection (the point on that plane).
* ``nearest_digit``: which digit a code looks like, by a k-NN vote among the reference
  codes.
* ``LatentEdit``: the drawing's code and the user's edits of it.
* ``Interpolation``: the two pinned codes and the code at a mixing fraction t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Guess", "Interpolation", "LatentEdit", "Pin", "Projection", "nearest_digit",
           "nice_limit", "symmetric_limit"]


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


@dataclass(frozen=True)
class Guess:
    """The k-NN verdict: ``digit`` won ``votes`` of ``k`` neighbours."""

    digit: int
    votes: int
    k: int

    def describe(self) -> str:
        return f"looks like a {self.digit}: {self.votes} of {self.k} neighbours"


def nearest_digit(codes: np.ndarray, labels: np.ndarray, z, k: int = 10) -> Guess | None:
    """Majority label of the ``k`` reference codes nearest to ``z`` (Euclidean); ties go
    to the label whose nearest member is closest. None without reference codes."""
    if codes is None or len(codes) == 0:
        return None
    z = np.asarray(z, np.float32).reshape(1, -1)
    d2 = ((codes - z) ** 2).sum(axis=1)
    k = min(k, len(codes))
    nearest = np.argpartition(d2, k - 1)[:k]
    nearest = nearest[np.argsort(d2[nearest], kind="stable")]
    votes = np.bincount(labels[nearest], minlength=10)
    best = votes.max()
    # Among tied labels the first to appear in distance order wins.
    digit = next(int(labels[i]) for i in nearest if votes[labels[i]] == best)
    return Guess(digit, int(best), int(k))


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


class LatentEdit:
    """The code of the drawing and the one shown, which the user may edit per dimension
    or replace (a point picked on the latent map); ``reset`` goes back to the drawing."""

    def __init__(self, latent_dim: int = 0):
        self.reset_model(latent_dim)

    def reset_model(self, latent_dim: int) -> None:
        self.latent_dim = latent_dim
        self.drawing = np.zeros(latent_dim, np.float32)
        self.current = self.drawing.copy()
        self.edited = np.zeros(latent_dim, bool)

    @property
    def is_edited(self) -> bool:
        return bool(self.edited.any())

    def set_drawing(self, z) -> None:
        """A new drawing's code: it becomes the code shown, edits are dropped."""
        self.drawing = self._checked(z)
        self.reset()

    def update_drawing(self, z) -> None:
        """The drawing's code changed while an edit is shown: keep the edit."""
        self.drawing = self._checked(z)
        if not self.is_edited:
            self.current = self.drawing.copy()

    def set_value(self, dim: int, value: float) -> None:
        if not 0 <= dim < self.latent_dim:
            raise IndexError(f"latent dimension {dim} out of range 0..{self.latent_dim - 1}")
        self.current[dim] = np.float32(value)
        self.edited[dim] = True

    def replace(self, z) -> None:
        """Show another code altogether (every dimension counts as edited)."""
        self.current = self._checked(z)
        self.edited[:] = True

    def reset(self) -> None:
        self.current = self.drawing.copy()
        self.edited[:] = False

    def _checked(self, z) -> np.ndarray:
        z = np.array(z, np.float32).reshape(-1)
        if z.shape != (self.latent_dim,):
            raise ValueError(f"expected a code of {self.latent_dim} values, got {z.shape[0]}")
        return z


@dataclass(frozen=True, eq=False)
class Pin:
    """A pinned drawing: its code and the 28x28 frame the network saw."""

    z: np.ndarray
    frame: np.ndarray


class Interpolation:
    """Two pinned drawings A and B, and the mix ``(1 - t) zA + t zB``."""

    STEPS = 8

    def __init__(self):
        self.a: Pin | None = None
        self.b: Pin | None = None
        self.t = 0.5

    @property
    def ready(self) -> bool:
        return self.a is not None and self.b is not None

    def pin(self, which: str, z, frame) -> None:
        pin = Pin(np.array(z, np.float32).reshape(-1), np.array(frame, np.float32))
        if which == "a":
            self.a = pin
        elif which == "b":
            self.b = pin
        else:
            raise ValueError(f"pin 'a' or 'b', not {which!r}")

    def unpin(self) -> None:
        self.a = self.b = None

    def mix(self, t: float | None = None) -> np.ndarray:
        if not self.ready:
            raise RuntimeError("pin two drawings (A and B) first")
        t = self.t if t is None else float(t)
        return ((1.0 - t) * self.a.z + t * self.b.z).astype(np.float32)

    def steps(self) -> np.ndarray:
        """The strip's codes: STEPS points from A to B inclusive, (STEPS, Z)."""
        ts = np.linspace(0.0, 1.0, self.STEPS)
        return np.stack([self.mix(t) for t in ts])
