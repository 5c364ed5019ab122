"""The drawing as plain Python: strokes, pictures placed on the page, undo and redo, and
the page's pixels.

``DrawingDocument`` is the state behind the canvas widget, and imports no Qt: the widget
forwards pointer events to it and shows what it holds. Geometry is in page units, on a
square page of ``PAGE`` units whatever the widget's size or the screen's pixel ratio.
The document rasterises itself (``aegui.raster``) onto a ``PAGE`` x ``PAGE`` 8-bit page,
ink bright on black: ``raster()`` is what the network gets, on screen or headless.

A stroke is drawn as a chain of segments: a dot where it starts, a line to the midpoint
of its first two points, then one quadratic curve per new point through the previous
point (the midpoints make the chain smooth), and a line to the last point once the
stroke ends. ``extend_stroke`` returns only the segments that the new point adds, so only
a few pixels are rasterised per mouse move; ``segments()`` lists all of them for a full
redraw, which paints exactly what the incremental updates painted (see ``aegui.raster``).

History is one list of edits (strokes, ``Clear`` marks, ``Picture`` imports), undone and
redone one edit at a time. What shows is everything after the last ``Clear`` or
``Picture``, so clearing and importing are undoable like strokes. The history is bounded
for long sessions: past ``MAX_HISTORY`` edits, the oldest edits up to a ``Clear`` (or up
to a ``Picture``) are forgotten; they do not show, so nothing on the page changes, but
undo stops there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .prefix_cache import PrefixCache, repaint
from .raster import Segment, paint_segments, union_boxes

__all__ = ["Clear", "DrawingDocument", "MAX_HISTORY", "MIN_STEP", "PAGE", "Picture", "Segment", "Stroke",
           "draw_strokes", "pressure_width"]

PAGE = 512
# Points closer than this (page units) to the previous one add nothing but cost.
MIN_STEP = 1.0
# The thinnest a pressure-sensitive stroke gets, as a fraction of the pen width.
MIN_PRESSURE_WIDTH = 0.15
# Edits kept for undo (see the module docstring): a day of drawing digits would
# otherwise keep every stroke ever drawn.
MAX_HISTORY = 1000

Point = tuple[float, float]


@dataclass(eq=False)
class Stroke:
    """A pen or eraser stroke: points (x, y, pressure in [0, 1]) in page units."""

    width: float
    erase: bool = False
    points: list[tuple[float, float, float]] = field(default_factory=list)
    finished: bool = False

    def add_point(self, x: float, y: float, pressure: float = 1.0) -> bool:
        """Append a point unless it lies within ``MIN_STEP`` of the last one; True if added."""
        if self.points:
            lx, ly, _ = self.points[-1]
            if math.hypot(x - lx, y - ly) < MIN_STEP:
                return False
        self.points.append((float(x), float(y), float(pressure)))
        return True

    def segments(self) -> list[Segment]:
        """All segments of the stroke as drawn so far (see the module docstring)."""
        pts = self.points
        out = [self._dot()] if pts else []
        for i in range(1, len(pts)):
            out.append(self._segment_to(i))
        if self.finished and len(pts) >= 2:
            out.append(self._tail())
        return out

    def _dot(self) -> Segment:
        x, y, p = self.points[0]
        return Segment("dot", ((x, y),), pressure_width(self.width, p), self.erase)

    def _segment_to(self, i: int) -> Segment:
        """The segment that point ``i`` (i >= 1) adds while the stroke is drawn."""
        pts = self.points
        if i == 1:
            x0, y0, p0 = pts[0]
            return Segment("line", ((x0, y0), _mid(pts[0], pts[1])),
                           pressure_width(self.width, p0), self.erase)
        a, b, c = pts[i - 2], pts[i - 1], pts[i]
        return Segment("quad", (_mid(a, b), (b[0], b[1]), _mid(b, c)),
                       pressure_width(self.width, b[2]), self.erase)

    def _tail(self) -> Segment:
        a, b = self.points[-2], self.points[-1]
        return Segment("line", (_mid(a, b), (b[0], b[1])), pressure_width(self.width, b[2]), self.erase)


@dataclass(frozen=True, eq=False)
class Picture:
    """An image put on the page (an opened file): (PAGE, PAGE) uint8, ink bright.
    It replaces whatever was drawn before it."""

    pixels: np.ndarray


@dataclass(frozen=True, eq=False)
class Clear:
    """Everything before this edit is hidden (undo brings it back)."""


Edit = Stroke | Picture | Clear
# What observers get: the segments just added, or None when everything must be redrawn.
Listener = Callable[["list[Segment] | None"], None]


def pressure_width(width: float, pressure: float) -> float:
    """The painted width for a pen ``width`` at tablet ``pressure`` (1.0 for a mouse)."""
    p = min(max(float(pressure), 0.0), 1.0)
    return width * (MIN_PRESSURE_WIDTH + (1.0 - MIN_PRESSURE_WIDTH) * p)


def _mid(a, b) -> Point:
    return ((a[0] + b[0]) * 0.5, (a[1] + b[1]) * 0.5)


class DrawingDocument:
    """Strokes and undo history of one drawing; observers hear about every change."""

    def __init__(self, size: int = PAGE):
        self.size = size
        self._edits: list[Edit] = []
        self._undone: list[Edit] = []
        self._active: Stroke | None = None
        self._listeners: list[Listener] = []
        self._raster = np.zeros((size, size), np.uint8)
        # A box (x0, y0, x1, y1; ends exclusive) around every pixel of ink on the page, or
        # None when there is none: it may be larger than the ink (an eraser does not shrink it).
        self._ink_box: tuple[int, int, int, int] | None = None
        # The page as it was before recent strokes: undo and redo repaint from there.
        self._prefixes = PrefixCache(keep=8)

    # ------------------------------------------------------------------ observing

    def observe(self, listener: Listener) -> None:
        """Call ``listener(segments)`` after each change: the new segments of the stroke
        being drawn, or None when the whole drawing must be redrawn."""
        self._listeners.append(listener)

    def _notify(self, segments: list[Segment] | None) -> None:
        """Bring the raster up to date, then tell the observers."""
        if segments is None:
            self._rasterise()
            self._ink_box = _box_of_ink(self._raster)
        else:
            box = paint_segments(self._raster, segments)
            if box is not None and not all(segment.erase for segment in segments):
                self._ink_box = union_boxes(self._ink_box, box)
        for listener in self._listeners:
            listener(segments)

    def _rasterise(self) -> None:
        picture, strokes = self.visible()
        repaint(self._raster, picture, lambda: picture.pixels if picture is not None else None, strokes, 1.0,
                self._prefixes)

    # ------------------------------------------------------------------ drawing

    @property
    def in_stroke(self) -> bool:
        """A stroke is in progress (the pen is down)."""
        return self._active is not None

    @property
    def stroke_points(self) -> int:
        """Points of the stroke in progress so far (0 when none): 1 just after it began."""
        return len(self._active.points) if self._active is not None else 0

    def begin_stroke(self, x: float, y: float, width: float, pressure: float = 1.0,
                     erase: bool = False) -> None:
        """Start a stroke at (x, y); it is an edit (and undoable) from here on."""
        if not width > 0:
            raise ValueError(f"stroke width must be positive, got {width!r}")
        self.end_stroke()
        picture, strokes = self.visible()
        self._prefixes.store(picture, strokes, self._raster)      # the page as it is before this stroke
        stroke = Stroke(float(width), bool(erase), [(float(x), float(y), float(pressure))])
        self._active = stroke
        self._edits.append(stroke)
        self._undone.clear()
        self._trim()
        self._notify([stroke.segments()[0]])

    def extend_stroke(self, x: float, y: float, pressure: float = 1.0) -> list[Segment]:
        """Add a point to the stroke in progress; returns (and announces) the new segment,
        or nothing when no stroke is in progress or the point is too near the last one."""
        stroke = self._active
        if stroke is None:
            return []
        if not stroke.add_point(x, y, pressure):
            return []
        new = [stroke._segment_to(len(stroke.points) - 1)]
        self._notify(new)
        return new

    def end_stroke(self) -> list[Segment]:
        """Finish the stroke in progress (if any); returns the closing segment."""
        stroke, self._active = self._active, None
        if stroke is None:
            return []
        stroke.finished = True
        new = [stroke._tail()] if len(stroke.points) >= 2 else []
        if new:
            self._notify(new)
        return new

    def clear(self) -> None:
        """Hide everything (undoable); nothing happens when the page is already empty."""
        self.end_stroke()
        if self.is_empty():
            return
        self._push(Clear())

    def place_picture(self, pixels) -> None:
        """Replace the drawing by an image: (size, size) uint8, ink bright (undoable)."""
        pixels = np.asarray(pixels)
        if pixels.shape != (self.size, self.size) or pixels.dtype != np.uint8:
            raise ValueError(f"a picture must be ({self.size}, {self.size}) uint8, "
                             f"got {pixels.shape} {pixels.dtype}")
        self.end_stroke()
        self._push(Picture(pixels.copy()))

    def _push(self, edit: Edit) -> None:
        self._edits.append(edit)
        self._undone.clear()
        self._trim()
        self._notify(None)

    def _trim(self) -> None:
        """Forget the oldest edits once there are more than MAX_HISTORY, cutting only
        where nothing visible depends on what is cut: after a Clear, before a Picture."""
        if len(self._edits) <= MAX_HISTORY:
            return
        # Cut down to three quarters, so that trimming (a scan) happens once in a while.
        wanted = len(self._edits) - MAX_HISTORY * 3 // 4
        cut = 0
        for i, edit in enumerate(self._edits):
            if isinstance(edit, Clear):
                cut = i + 1
            elif isinstance(edit, Picture):
                cut = i
            else:
                continue
            if cut >= wanted:
                break
        if cut:
            del self._edits[:cut]

    # ------------------------------------------------------------------ history

    @property
    def can_undo(self) -> bool:
        return bool(self._edits)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo(self) -> bool:
        """Take back the last edit (a stroke in progress ends first). False if none."""
        self.end_stroke()
        if not self._edits:
            return False
        self._undone.append(self._edits.pop())
        self._notify(None)
        return True

    def redo(self) -> bool:
        """Bring back the last undone edit. False if none."""
        if self.in_stroke or not self._undone:
            return False
        self._edits.append(self._undone.pop())
        self._notify(None)
        return True

    # ------------------------------------------------------------------ reading

    def visible(self) -> tuple[Picture | None, list[Stroke]]:
        """What shows: the picture underneath (or None) and the strokes over it."""
        for i in range(len(self._edits) - 1, -1, -1):
            edit = self._edits[i]
            if isinstance(edit, (Clear, Picture)):
                strokes = [e for e in self._edits[i + 1:] if isinstance(e, Stroke)]
                return (edit if isinstance(edit, Picture) else None), strokes
        return None, [e for e in self._edits if isinstance(e, Stroke)]

    def is_empty(self) -> bool:
        """Nothing shows on the page (erasing on an empty page still counts as empty)."""
        picture, strokes = self.visible()
        return picture is None and all(s.erase for s in strokes)

    def segments(self) -> list[Segment]:
        """Every visible segment in painting order (the picture is not a segment)."""
        return [seg for stroke in self.visible()[1] for seg in stroke.segments()]

    def raster(self) -> np.ndarray:
        """The page as the network gets it: (size, size) uint8, ink bright (a copy)."""
        return self._raster.copy()

    def inked(self) -> np.ndarray:
        """The page cropped to a box holding all of its ink (a copy; one blank pixel when
        there is none): what framing a drawing needs (``aegui.preprocess.mnist_style``
        looks at the ink alone), a fraction of the page to copy and to scan at every move."""
        if self._ink_box is None:
            return np.zeros((1, 1), np.uint8)
        x0, y0, x1, y1 = self._ink_box
        return self._raster[y0:y1, x0:x1].copy()

    @property
    def pixels(self) -> np.ndarray:
        """The page itself, read-only: to look at without copying, never to keep."""
        view = self._raster.view()
        view.flags.writeable = False
        return view


def _box_of_ink(page: np.ndarray) -> tuple[int, int, int, int] | None:
    """The smallest box (x0, y0, x1, y1; ends exclusive) holding every non-zero pixel."""
    rows, cols = np.flatnonzero(page.any(1)), np.flatnonzero(page.any(0))
    if not len(rows):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def draw_strokes(paths, width: float, size: int = PAGE, pressure: float = 1.0) -> np.ndarray:
    """Draw pointer paths the way the canvas does and return the page: (size, size) uint8.

    ``paths`` is a sequence of strokes, each an (N, 2) sequence of page positions in the
    order the pen visited them; each is what one press, N - 1 moves and a release of a pen
    ``width`` wide make of it in ``DrawingDocument`` (the same points kept, the same
    segments), so that headless renderings (tests, the drawn-digits benchmark, training
    images) are the images the canvas gives the network. The segments are painted in one
    call rather than one per move: the same pixels (see ``aegui.raster``), several times
    faster.
    """
    if not width > 0:
        raise ValueError(f"stroke width must be positive, got {width!r}")
    segments: list[Segment] = []
    for path in paths:
        pts = np.asarray(path, np.float64).reshape(-1, 2)
        if not len(pts):
            continue
        stroke = Stroke(float(width), finished=True)
        for x, y in pts:
            stroke.add_point(x, y, pressure)
        segments.extend(stroke.segments())
    page = np.zeros((size, size), np.uint8)
    paint_segments(page, segments)
    return page
