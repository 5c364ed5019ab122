"""A picture of a digit as ink on paper: the paper's level estimated, so that a photo of a
digit on grey paper (or a chalkboard) is read as its strokes, not as a page of ink.

``ink_from_picture(grey)`` takes a 2-D uint8 picture of either polarity and returns it ink
bright on black, as the rest of aegui reads drawings:

* the paper is what the picture's border mostly is (its median), with its grain (the
  border's median absolute deviation: a photo's noise, a JPEG's ringing);
* the ink is whichever side of the paper reaches farther: a dark pen on paper, or chalk on
  a board, told by the picture's extreme values (``INK_TAIL`` of its pixels, so that a lone
  speck decides nothing);
* each pixel's ink is how far it lies from the paper beyond the grain, as a share of how
  far the ink lies: paper and its grain become 0, the ink 255.

A clean picture (a border of pure black or white, no grain: a scan cleaned up, or what the
app itself saves) keeps its values and is only inverted when its paper is white.

Pure numpy: no Qt, no PIL.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GRAIN_SIGMAS", "INK_TAIL", "ink_from_picture", "paper_level"]

INK_TAIL = 0.002        # the ink's level: this share of the pixels lies beyond it
GRAIN_SIGMAS = 6.0      # a pixel within this many grain widths of the paper is paper (noise of a
                        # megapixel photo reaches past 5)


def paper_level(grey: np.ndarray) -> tuple[float, float]:
    """(level, grain) of the paper: the median of the picture's border and the spread
    around it (1.4826 x its median absolute deviation, a standard deviation for noise)."""
    grey = np.asarray(grey)
    if min(grey.shape) < 3:
        border = grey.ravel()
    else:
        border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    level = float(np.median(border))
    grain = 1.4826 * float(np.median(np.abs(border.astype(np.float64) - level)))
    return level, grain


def ink_from_picture(grey: np.ndarray) -> np.ndarray:
    """A picture of a digit (2-D uint8, dark ink on light paper or light on dark, any
    paper level) as uint8 ink bright on black (see the module docstring)."""
    grey = np.asarray(grey, np.uint8)
    if grey.size == 0:
        return grey.copy()
    paper, grain = paper_level(grey)
    if grain == 0 and paper in (0.0, 255.0):           # clean: polarity only
        return (255 - grey) if paper == 255.0 else grey.copy()
    low, high = np.quantile(grey, [INK_TAIL, 1 - INK_TAIL])
    dark_ink = paper - low >= high - paper
    distance = (paper - grey.astype(np.float32)) if dark_ink else (grey.astype(np.float32) - paper)
    reach = (paper - low) if dark_ink else (high - paper)
    floor = GRAIN_SIGMAS * max(grain, 1.0)
    if reach <= floor:                                   # nothing stands out from the paper: no ink
        return np.zeros_like(grey)
    ink = np.clip((distance - floor) / (reach - floor), 0.0, 1.0)
    return np.rint(ink * 255).astype(np.uint8)
