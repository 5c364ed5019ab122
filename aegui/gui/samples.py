"""Hand-drawn-looking sample digits as pointer paths, for screenshots, the app benchmark
and tests. No Qt: a path is an (N, 2) float array of page coordinates (the page is
``drawing.PAGE`` units square), spaced like the mouse-move events of a hand drawing."""

from __future__ import annotations

import numpy as np

from aegui.document import PAGE

__all__ = ["DIGITS", "digit_strokes", "resample"]

# Control points of each digit's strokes on a 512-unit page, drawn through by a
# Catmull-Rom spline; every digit is one stroke except the 4 and the 7's bar.
_CONTROL: dict[str, list[list[tuple[float, float]]]] = {
    "0": [[(256 + 105 * np.sin(a), 256 - 150 * np.cos(a)) for a in np.linspace(-0.2, 2 * np.pi + 0.15, 15)]],
    "1": [[(215, 150), (262, 104), (266, 200), (263, 300), (258, 408)]],
    "2": [[(168, 175), (205, 118), (270, 100), (332, 135), (338, 205), (292, 275), (222, 342),
           (162, 400), (255, 396), (362, 402)]],
    "3": [[(170, 140), (228, 104), (300, 106), (342, 152), (322, 212), (262, 244), (238, 248),
           (302, 258), (352, 306), (346, 366), (292, 408), (212, 412), (158, 380)]],
    "4": [[(300, 104), (240, 200), (180, 300), (250, 300), (360, 296)],
          [(312, 200), (308, 300), (304, 412)]],
    "7": [[(162, 126), (256, 118), (354, 122), (312, 210), (274, 300), (240, 410)],
          [(212, 262), (262, 260), (318, 258)]],
    "8": [[(256 + 92 * np.sin(2 * t), 256 - 150 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 25)]],
}
DIGITS = tuple(_CONTROL)


def _catmull_rom(control: np.ndarray, per_span: int = 24) -> np.ndarray:
    """A dense polyline through the control points (centripetal-free, uniform)."""
    p = np.vstack([control[:1], control, control[-1:]])
    t = np.linspace(0.0, 1.0, per_span, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(control[-1:])
    return np.vstack(out)


def resample(path: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` units of arc length along a polyline (ends included)."""
    path = np.asarray(path, np.float64)
    lengths = np.hypot(*np.diff(path, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(lengths)])
    n = max(2, int(np.ceil(arc[-1] / step)) + 1)
    at = np.linspace(0.0, arc[-1], n)
    return np.column_stack([np.interp(at, arc, path[:, 0]), np.interp(at, arc, path[:, 1])])


def digit_strokes(digit: str, step: float = 6.0, jitter: float = 0.6, scale: float = 1.0,
                  seed: int = 0) -> list[np.ndarray]:
    """The strokes of a sample ``digit`` ("0" "1" "2" "3" "4" "7" "8"), each an (N, 2)
    array of points ``step`` units apart with a little hand tremor (deterministic)."""
    if digit not in _CONTROL:
        raise ValueError(f"no sample for digit {digit!r}; have {', '.join(DIGITS)}")
    rng = np.random.default_rng(seed)
    centre = PAGE / 2
    strokes = []
    for control in _CONTROL[digit]:
        points = resample(_catmull_rom(np.asarray(control, np.float64)), step)
        points = centre + (points * (PAGE / 512) - centre) * scale
        points += rng.normal(0.0, jitter, points.shape)
        strokes.append(points)
    return strokes
