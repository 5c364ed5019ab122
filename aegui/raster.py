"""Rasterising pen strokes in numpy: the one renderer of drawings, on screen and off.

The canvas shows what this module paints, the network gets what this module paints, and
the drawn-digits benchmark (``aegui eval --drawn``) renders recorded pen strokes with it,
headless: so the benchmark measures exactly what a user's drawing looks like to the model.

A stroke arrives as ``Segment``s (see ``aegui.document``): dots, lines and quadratic
curves, each with a width, painted as thick curves with round caps and joins (a pen of
that width moved along them). Geometry is in page units; ``scale`` maps them to pixels,
so the same call paints the 512x512 page the network reads and a 1400x1400 view on a
high-DPI screen.

Decisions, and why:

* Anti-aliasing by distance: a pixel's ink is ``clip(r + 1/2 - d, 0, min(1, 2r))`` for a
  pixel centre at distance ``d`` (pixels) from the segment's centreline and a half-width
  ``r``. That is the exact area of the pixel under a straight edge crossing it parallel to
  a side, and close for any direction; it overestimates tight curves a little (a lone
  dot of the thinnest pen, 2 px, by 8 %; of a 3 px pen by 1 %), which no stroke width
  people draw with shows. Below one pixel wide it fades the line in proportion to its
  width instead of dropping or widening it.
* Ink combines by maximum, eraser by minimum: a stroke is the union of its segments,
  whose round caps overlap at every joint. Alpha-blending ("over") would darken the
  anti-aliased rim twice at each joint and leave beads along a stroke; the union does
  not. Because max and min are order-insensitive within a stroke, painting segment by
  segment as the pen moves gives the same image as repainting the whole drawing.
* Curves are flattened into line pieces whose distance from the true curve is at most
  ``FLATNESS`` pixels (0.05: the rim of a curve is off by at most 5 % of one pixel's
  ink, and its inside not at all): a quadratic strays at most |P0 - 2 P1 + P2| / 4 from
  its chord, and n equal pieces divide that by n squared.
* Values are 8-bit (0 background, 255 full ink) and rounded, as Qt's painter would store
  them, so that the image on screen and the image the network gets are the same bytes.
* Two implementations of one definition. This module's numpy code defines the pixels; a
  C++ kernel (``csrc/cpu/raster_cpu.cpp``, in the op's library) does the same float32
  arithmetic step for step and gives the same bytes (tests/test_raster.py compares them
  on thousands of pieces). The canvas paints each mouse move twice (the page and the
  view), a box of a few thousand pixels each time, and numpy spends most of that on
  calling its functions, not on the pixels: about 0.3 ms a move on the UI thread, against
  a budget of 1 ms for the whole move. The kernel is used only once the library is
  loaded, which the model's loading does; this module never loads torch itself (the
  window is on screen before torch is imported), and without the library (no compiler,
  ``AEGUI_BACKEND=reference``) numpy paints.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Iterable, NamedTuple

import numpy as np

from . import native

__all__ = ["FLATNESS", "Segment", "paint_segments", "union_boxes"]

Point = tuple[float, float]

# Largest distance (pixels) between a curve and the line pieces that stand in for it.
FLATNESS = 0.05
# Curves are never split into more pieces than this (a curve that long is a glitch).
MAX_PIECES = 64
# Pixels computed at once when many pieces are painted (bounds the scratch memory: 4 MB).
BATCH_PIXELS = 1 << 20


class Segment(NamedTuple):
    """One piece of a stroke to paint: ``kind`` is "dot" (``points`` = (centre,)),
    "line" (start, end) or "quad" (start, control, end); ``width`` in page units."""

    kind: str
    points: tuple[Point, ...]
    width: float
    erase: bool


def paint_segments(image: np.ndarray, segments: Iterable[Segment], scale: float = 1.0) -> tuple[int, int, int, int] | None:
    """Paint ``segments`` (page units) onto ``image``, a 2-D uint8 array whose pixel
    (i, j) covers page units [j, j+1) x [i, i+1) divided by ``scale``, in place.

    Returns the box of pixels that may have changed, (x0, y0, x1, y1) with exclusive
    ends, or None when nothing could change (no segments, or all off the image).
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image must be a 2-D uint8 array, got {image.ndim}-D {image.dtype}")
    scale = float(scale)
    box = None
    # Pen and eraser do not commute, so each run of one kind is painted before the next.
    for erase, run in itertools.groupby(segments, key=lambda seg: bool(seg.erase)):
        pieces = _pieces(run, scale)
        if len(pieces):
            box = union_boxes(box, _paint_pieces(image, pieces, erase))
    return box


def union_boxes(a, b):
    """The smallest box (x0, y0, x1, y1) holding boxes ``a`` and ``b``; either may be None."""
    if a is None or b is None:
        return a if b is None else b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _pieces(segments: Iterable[Segment], scale: float) -> np.ndarray:
    """Every segment as straight pieces in pixels: rows (ax, ay, bx, by, r); a dot is a
    piece of length 0. Segments of zero or non-finite width paint nothing."""
    rows = []
    for seg in segments:
        r = seg.width * scale / 2
        if not (r > 0 and math.isfinite(r)):
            continue
        chain = _polyline(seg.kind, [(x * scale, y * scale) for x, y in seg.points])
        if len(chain) == 1:
            rows.append((*chain[0], *chain[0], r))
        rows.extend((*a, *b, r) for a, b in zip(chain[:-1], chain[1:]))
    return np.array(rows, np.float64).reshape(-1, 5)


def _polyline(kind: str, pts: list[Point]) -> list[Point]:
    """The segment as a chain of points: one for a dot, two for a line, a flattened
    curve for a quadratic."""
    if kind == "dot":
        return [pts[0]]
    if kind == "line":
        return [pts[0], pts[1]]
    if kind != "quad":
        raise ValueError(f"unknown segment kind {kind!r}")
    (ax, ay), (bx, by), (cx, cy) = pts
    deviation = math.hypot(ax - 2 * bx + cx, ay - 2 * by + cy) / 4
    n = min(max(1, math.ceil(math.sqrt(deviation / FLATNESS))), MAX_PIECES)
    out = []
    for i in range(n + 1):
        t = i / n
        u = 1 - t
        out.append((u * u * ax + 2 * u * t * bx + t * t * cx, u * u * ay + 2 * u * t * by + t * t * cy))
    return out


def _paint_pieces(image: np.ndarray, pieces: np.ndarray, erase: bool) -> tuple[int, int, int, int] | None:
    """Paint straight pieces of one kind (rows ax, ay, bx, by, r in pixels); the box of
    pixels that may have changed, or None."""
    kernel = _native()
    if kernel is not None and image.flags.c_contiguous and image.flags.writeable:
        return kernel(image, pieces, erase)
    return _paint_pieces_numpy(image, pieces, erase)


def _native() -> Callable | None:
    """The compiled kernel (``aegui.native``): ``kernel(image, pieces, erase)`` with
    contiguous float64 pieces, as ``_pieces`` makes them; None while numpy paints."""
    return native.kernel("paint_pieces")


def _paint_pieces_numpy(image: np.ndarray, pieces: np.ndarray, erase: bool) -> tuple[int, int, int, int] | None:
    """The definition: paint straight pieces of one kind, many at once: each piece's ink is computed on
    a box around it, all boxes of a batch in one set of array operations (a stroke redrawn
    whole is hundreds of pieces; one by one, the per-call overhead would dominate)."""
    ax, ay, bx, by, r = pieces.T
    reach = r + 1.0
    x0 = np.floor(np.minimum(ax, bx) - reach).astype(np.int64)
    y0 = np.floor(np.minimum(ay, by) - reach).astype(np.int64)
    x1 = np.ceil(np.maximum(ax, bx) + reach).astype(np.int64) + 1
    y1 = np.ceil(np.maximum(ay, by) + reach).astype(np.int64) + 1
    height, width = image.shape
    on_image = (x1 > 0) & (y1 > 0) & (x0 < width) & (y0 < height)
    if not on_image.any():
        return None
    # Within a run, the order of pieces does not matter (max, or min for the eraser), so
    # pieces of similar box size are batched together and no batch pads much.
    order = np.flatnonzero(on_image)
    side = np.maximum(x1 - x0, y1 - y0)[order]
    if len(order) * int(side.max()) ** 2 > BATCH_PIXELS:
        order, side = order[np.argsort(side, kind="stable")], np.sort(side, kind="stable")
    else:
        side = np.full(len(order), side.max())   # one batch: no need to sort
    start = 0
    while start < len(order):
        # A batch's boxes are as large as its largest (its last): as many pieces as fit.
        fits = np.arange(1, len(order) - start + 1) * side[start:] ** 2 <= BATCH_PIXELS
        count = max(1, int(fits.sum()))
        batch = order[start:start + count]
        sx = int((x1[batch] - x0[batch]).max())
        sy = int((y1[batch] - y0[batch]).max())
        ink = _ink(pieces[batch], x0[batch], y0[batch], sx, sy)
        _composite(image, ink, x0[batch], y0[batch], erase)
        start += count
    return (int(max(x0[on_image].min(), 0)), int(max(y0[on_image].min(), 0)),
            int(min(x1[on_image].max(), width)), int(min(y1[on_image].max(), height)))


def _ink(pieces: np.ndarray, x0: np.ndarray, y0: np.ndarray, sx: int, sy: int) -> np.ndarray:
    """8-bit ink of each piece on its (sy, sx) box whose top-left pixel is (x0, y0):
    clip(r + 1/2 - d, 0, min(1, 2r)) * 255, rounded half up as the painter stores it."""
    f32 = np.float32
    p = pieces.astype(f32)[:, :, None, None]            # (K, 5, 1, 1)
    ex, ey, r = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1], p[:, 4]
    # Offsets of the pixel centres from the piece's start (small numbers: float32 is exact).
    dx = np.arange(sx, dtype=f32)[None, None, :] + (x0[:, None, None] - pieces[:, 0, None, None] + 0.5).astype(f32)
    dy = np.arange(sy, dtype=f32)[None, :, None] + (y0[:, None, None] - pieces[:, 1, None, None] + 0.5).astype(f32)
    length2 = ex * ex + ey * ey
    length2[length2 <= 1e-12] = f32(np.inf)               # a dot: every pixel projects to t = 0
    # Where along the piece each pixel projects, clipped to the piece.
    t = dx * (ex / length2) + dy * (ey / length2)
    np.maximum(t, f32(0.0), out=t)
    np.minimum(t, f32(1.0), out=t)
    qx = t * -ex
    qx += dx
    t *= -ey
    t += dy
    qx *= qx
    t *= t
    qx += t
    d = np.sqrt(qx, out=qx)
    d *= f32(-255.0)
    d += (r + f32(0.5)) * f32(255.0) + f32(0.5)
    np.maximum(d, f32(0.0), out=d)
    np.minimum(d, np.minimum(f32(1.0), 2 * r) * f32(255.0) + f32(0.5), out=d)
    return d.astype(np.uint8)


def _composite(image: np.ndarray, ink: np.ndarray, x0: np.ndarray, y0: np.ndarray, erase: bool) -> None:
    """Combine each piece's ink with the image where its box lies on the image."""
    height, width = image.shape
    _, sy, sx = ink.shape
    for k in range(len(ink)):
        left, top = int(x0[k]), int(y0[k])
        cl, ct = max(left, 0), max(top, 0)
        cr, cb = min(left + sx, width), min(top + sy, height)
        if cl >= cr or ct >= cb:
            continue
        region = image[ct:cb, cl:cr]
        piece = ink[k, ct - top:cb - top, cl - left:cr - left]
        if erase:
            np.minimum(region, 255 - piece, out=region)
        else:
            np.maximum(region, piece, out=region)
