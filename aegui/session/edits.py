"""The session's editable latent state, in plain numpy: the code shown and its edits, and
the two pinned drawings of the interpolation.

* ``LatentEdit``: the drawing's code and the code shown, which the user may edit per
  dimension or replace (a point picked on the latent map); ``reset`` goes back.
* ``Interpolation``: the pins A and B and the code ``(1 - t) zA + t zB`` at a mix t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Interpolation", "LatentEdit", "Pin"]


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
    """A pinned code and its thumbnail (28x28): the frame the network saw of the drawing,
    or, for an edited code, its decoding (None until it is decoded)."""

    z: np.ndarray
    frame: np.ndarray | None
    edited: bool = False


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

    def pin(self, which: str, z, frame, edited: bool = False) -> None:
        pin = Pin(np.array(z, np.float32).reshape(-1), None if frame is None else np.array(frame, np.float32), edited)
        if which == "a":
            self.a = pin
        elif which == "b":
            self.b = pin
        else:
            raise ValueError(f"pin 'a' or 'b', not {which!r}")

    def show_decoded(self, codes, images) -> bool:
        """Give each edited pin without a thumbnail the decoding of its code, if ``codes``
        (N, Z) holds it (``images`` (N, 28, 28)); True if any pin got one."""
        changed = False
        for which in ("a", "b"):
            pin = getattr(self, which)
            if pin is None or not pin.edited or pin.frame is not None:
                continue
            for code, image in zip(np.asarray(codes, np.float32), images):
                if np.array_equal(code, pin.z):
                    setattr(self, which, Pin(pin.z, np.array(image, np.float32), True))
                    changed = True
                    break
        return changed

    @property
    def waiting(self) -> list[np.ndarray]:
        """The codes of edited pins still without a thumbnail."""
        return [pin.z for pin in (self.a, self.b) if pin is not None and pin.edited and pin.frame is None]

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
