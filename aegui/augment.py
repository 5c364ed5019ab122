"""Augmentation: the ways people draw a digit differently, made from one recorded digit.

Pen strokes are augmented where a person's hand varies, before they are drawn
(``augment_strokes``, on the points, so the pen's width stays a pen's width and round caps
stay round): slant (a shear), rotation, aspect (wider or narrower), and elastic distortion
(a smooth random displacement: loops that close less or more, tails that curl). The pen
width, the size and the place on the page are varied when the strokes are drawn
(``aegui.pen_data``), so thin and thick strokes come from real pens. (Varying the stroke
width of MNIST's images as well, by grey-level dilation and erosion of each batch, was
measured and dropped: resources/models/README.md.)

Every augmentation is drawn from a generator the caller seeds, so a training run is the
same run for a seed. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["STROKE_RANGES", "StrokeRanges", "augment_strokes"]


@dataclass(frozen=True)
class StrokeRanges:
    rotation_deg: float = 12.0      # uniform in +-
    shear: float = 0.25             # slant: x += shear * (centre_y - y), uniform in +-
    aspect: float = 0.2             # x scaled by exp(uniform(+-log(1 + aspect)))
    elastic: float = 0.06           # displacement amplitude, fraction of the digit's height
    elastic_bumps: int = 4          # smooth bumps that make the displacement field
    elastic_width: float = 0.35     # their width, fraction of the digit's height


STROKE_RANGES = StrokeRanges()


def augment_strokes(strokes, rng: np.random.Generator, ranges: StrokeRanges = STROKE_RANGES) -> list[np.ndarray]:
    """The strokes slanted, rotated, stretched and elastically distorted about their
    centre, all drawn from ``rng``; same units, same number of points."""
    arrays = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes]
    pts = np.concatenate(arrays)
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    height = max(float(hi[1] - lo[1]), float(hi[0] - lo[0]), 1e-6)
    angle = np.radians(rng.uniform(-ranges.rotation_deg, ranges.rotation_deg))
    shear = rng.uniform(-ranges.shear, ranges.shear)
    stretch = np.exp(rng.uniform(-np.log1p(ranges.aspect), np.log1p(ranges.aspect)))
    cos, sin = np.cos(angle), np.sin(angle)
    # y points down: a positive shear leans the top to the right, as a right-handed slant.
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[stretch, -shear], [0.0, 1.0]])
    bumps = ranges.elastic_bumps
    centres = lo + rng.random((bumps, 2)) * np.maximum(hi - lo, 1e-6)
    amplitudes = rng.normal(0.0, ranges.elastic * height, (bumps, 2))
    width2 = 2.0 * (ranges.elastic_width * height) ** 2
    out = []
    for a in arrays:
        d2 = ((a[:, None, :] - centres[None]) ** 2).sum(-1)                  # (n, bumps)
        moved = a + np.exp(-d2 / width2) @ amplitudes
        out.append((moved - centre) @ linear.T + centre)
    return out
