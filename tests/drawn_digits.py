"""Canvas-sized drawings for tests without Qt: the app's sample digits, rasterised in numpy
as the canvas would paint them (round-capped strokes, ink 255 on black)."""

from __future__ import annotations

import numpy as np

from aegui.gui.drawing import PAGE
from aegui.gui.samples import DIGITS, digit_strokes

__all__ = ["DIGITS", "canvas_digit"]


def canvas_digit(digit: str, seed: int = 0, width: float = 32.0, scale: float = 1.0,
                 size: int = PAGE) -> np.ndarray:
    """A (size, size) uint8 drawing of a sample ``digit`` with strokes ``width`` wide."""
    image = np.zeros((size, size), np.uint8)
    r = width / 2
    for stroke in digit_strokes(digit, seed=seed, scale=scale):
        for (x0, y0), (x1, y1) in zip(stroke[:-1], stroke[1:]):
            top, bottom = int(max(min(y0, y1) - r, 0)), int(min(max(y0, y1) + r + 1, size))
            left, right = int(max(min(x0, x1) - r, 0)), int(min(max(x0, x1) + r + 1, size))
            yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
            dx, dy = x1 - x0, y1 - y0
            t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
            near = (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2 <= r * r
            image[top:bottom, left:right][near] = 255
    return image
