"""Canvas-sized drawings for tests without Qt: the app's sample digits drawn the way the
canvas draws them (``aegui.document.draw_strokes``: ink 255 on black)."""

from __future__ import annotations

import numpy as np

from aegui.document import PAGE, draw_strokes
from aegui.gui.samples import DIGITS, digit_strokes

__all__ = ["DIGITS", "canvas_digit"]


def canvas_digit(digit: str, seed: int = 0, width: float = 32.0, scale: float = 1.0,
                 size: int = PAGE) -> np.ndarray:
    """A (size, size) uint8 drawing of a sample ``digit`` with strokes ``width`` wide."""
    return draw_strokes(digit_strokes(digit, seed=seed, scale=scale), width, size)
