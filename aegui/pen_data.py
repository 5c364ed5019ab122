"""Real pen-drawn digits: reading them, splitting them by writer, placing and drawing them.

The data is ``pendigits-train.npz`` (UCI *Pen-Based Recognition of Handwritten Digits*,
original UNIPEN trajectories; its layout is in ``../shared/data/README.md``): 7,494 digits
by 30 writers, each digit its pen-down strokes as recorded on a tablet. They are the
closest thing to a person drawing on the canvas, so they serve twice:

* the drawn-digits benchmark (``aegui eval --drawn``) replays the *validation writers*'
  strokes through the canvas's own rasteriser at the sizes, places and pen widths people
  use, and asks the model what it sees;
* training renders the *training writers*' strokes into extra training images.

The split is by writer, never by digit: the same person's handwriting on both sides would
measure how well the model remembers that person, not how it reads a stranger.
``VALIDATION_WRITERS`` (24-29, 1,498 digits) is fixed once here and is never trained on;
``TRAINING_WRITERS`` (0-23, 5,996 digits) is everything else in the file. Other writers
exist and are held out of the project altogether.

A ``Placement`` says how one drawing of a digit is made: its height as a fraction of the
page, where its centre lies, and the pen width. ``placements`` draws them, seeded per digit,
from the ranges people use (see ``PLACEMENT_RANGES``), so a digit is drawn the same way
whichever other digits are drawn with it. ``draw_digit`` then draws it exactly as the canvas
would (``aegui.document.draw_strokes``): same stroke geometry, round caps, page size.

Pure numpy: no Qt, no torch.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aegui.data import DataError, file_sha256
from aegui.document import PAGE, draw_strokes

__all__ = ["PenDigits", "Placement", "PLACEMENT_RANGES", "TRAINING_WRITERS", "VALIDATION_WRITERS",
           "draw_digit", "load_pen_digits", "parse_writers", "placements", "placed_strokes", "draw_small",
           "parse_writers_text", "pen_training_set", "training_images"]

KEYS = ("points", "stroke_offsets", "digit_offsets", "labels", "writer")
# The split by writer (see the module docstring).
VALIDATION_WRITERS = tuple(range(24, 30))
TRAINING_WRITERS = tuple(range(0, 24))
# Training drawings are drawn at most this tall (see ``training_images``).
TRAINING_HEIGHT_PX = 96
_TRAINING_STREAM = 1


@dataclass(frozen=True)
class PlacementRanges:
    """Where, how large and with which pen people draw a digit on the canvas.

    Heights are uniform over ``height`` (fractions of the page); pen widths are
    log-uniform over ``pen`` (page units = pixels of the 512 page), so thin, medium and
    thick pens all get their share. One more condition: the pen is at most
    ``max_pen_ratio`` of the digit's height. A person with an 80 px pen does not draw a
    77 px digit (a 15 % one): it comes out as a blob, which they see and draw again
    larger; a quarter of the height is already a marker-thick stroke (MNIST's strokes are
    about an eighth of the digit's height). Pairs outside that are drawn again.
    The centre lies anywhere that keeps the whole stroke, pen included, on the page.
    """

    height: tuple[float, float] = (0.15, 0.90)
    pen: tuple[float, float] = (6.0, 80.0)
    max_pen_ratio: float = 0.25
    # A digit wider than this fraction of the page is drawn smaller, to fit.
    max_width: float = 0.95


PLACEMENT_RANGES = PlacementRanges()


@dataclass(frozen=True)
class Placement:
    """How one drawing of a digit is made, in page units: ``height`` (fraction of the
    page), the centre of its bounding box (``cx``, ``cy``, fractions of the page) and
    ``pen`` (the pen width)."""

    height: float
    cx: float
    cy: float
    pen: float


@dataclass(frozen=True, eq=False)
class PenDigits:
    """Pen-drawn digits: every point, the strokes they make up and the digits the strokes
    make up, with labels and writers. ``index`` numbers the digits of the file a subset
    came from (placements are seeded by it)."""

    points: np.ndarray          # (P, 2) float32 x, y; y points down
    stroke_offsets: np.ndarray  # (S + 1,) int64
    digit_offsets: np.ndarray   # (N + 1,) int64, into the strokes
    labels: np.ndarray          # (N,) int64 digits 0-9
    writers: np.ndarray         # (N,) int64
    index: np.ndarray           # (N,) int64 row of each digit in the file
    source: str
    sha256: str

    def __len__(self) -> int:
        return len(self.labels)

    def strokes(self, j: int) -> list[np.ndarray]:
        """Digit ``j``'s strokes, each an (n, 2) float32 array of points in pen order."""
        so, do = self.stroke_offsets, self.digit_offsets
        return [self.points[so[s]:so[s + 1]] for s in range(do[j], do[j + 1])]

    def of_writers(self, writers) -> PenDigits:
        """The digits of the given writers only (same points; offsets rebuilt)."""
        keep = np.flatnonzero(np.isin(self.writers, np.asarray(list(writers), np.int64)))
        return self.subset(keep)

    def subset(self, rows) -> PenDigits:
        """The digits at ``rows`` (in that order)."""
        rows = np.asarray(rows, np.int64)
        so, do = self.stroke_offsets, self.digit_offsets
        strokes = [np.arange(do[j], do[j + 1]) for j in rows]
        stroke_ids = np.concatenate(strokes) if strokes else np.zeros(0, np.int64)
        lengths = so[stroke_ids + 1] - so[stroke_ids]
        points = (np.concatenate([self.points[so[s]:so[s + 1]] for s in stroke_ids])
                  if len(stroke_ids) else np.zeros((0, 2), np.float32))
        per_digit = np.array([len(s) for s in strokes], np.int64)
        return PenDigits(points=points,
                         stroke_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                         digit_offsets=np.concatenate([[0], np.cumsum(per_digit)]).astype(np.int64),
                         labels=self.labels[rows], writers=self.writers[rows], index=self.index[rows],
                         source=self.source, sha256=self.sha256)


def parse_writers(text: str) -> tuple[int, ...]:
    """``"24-29"``, ``"3"`` or ``"0-3,7"`` -> the writer numbers, in order."""
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"--writers {text!r}: expected numbers and ranges like 24-29 or 0-3,7")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first:
            raise ValueError(f"--writers {text!r}: range {part} runs backwards")
        out.extend(range(first, last + 1))
    return tuple(dict.fromkeys(out))


def load_pen_digits(path: str | os.PathLike) -> PenDigits:
    """Read ``pendigits-train.npz`` (or a file of its layout); DataError if it is not one."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "pendigits-train.npz"
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected pendigits-train.npz (pen strokes with "
                        f"keys {', '.join(KEYS)})")
    try:
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
            missing = [k for k in KEYS if k not in archive.files]
            if missing:
                raise DataError(f"{path}: missing key(s) {', '.join(missing)}; expected pen strokes "
                                f"with keys {', '.join(KEYS)}")
            raw = {k: archive[k] for k in KEYS}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, AttributeError) as err:
        raise DataError(f"{path}: not a .npz of pen strokes: {err}") from None
    return _checked(raw, path)


def _checked(raw: dict, path: Path) -> PenDigits:
    points = np.asarray(raw["points"], np.float32)
    so = np.asarray(raw["stroke_offsets"])
    do = np.asarray(raw["digit_offsets"])
    labels, writers = np.asarray(raw["labels"]), np.asarray(raw["writer"])
    n = len(labels)
    problems = []
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        problems.append(f"points must be finite (P, 2), got {points.shape}")
    if so.ndim != 1 or len(so) < 1 or so[0] != 0 or so[-1] != len(points) or np.any(np.diff(so) < 0):
        problems.append("stroke_offsets must rise from 0 to the number of points")
    if do.ndim != 1 or len(do) != n + 1 or do[0] != 0 or do[-1] != len(so) - 1 or np.any(np.diff(do) < 1):
        problems.append("digit_offsets must rise from 0 to the number of strokes, one or more per digit")
    if labels.ndim != 1 or n == 0 or labels.min() < 0 or labels.max() > 9:
        problems.append("labels must be digits 0-9, at least one")
    if writers.shape != labels.shape:
        problems.append("writer must hold one number per digit")
    if problems:
        raise DataError(f"{path}: not valid pen strokes: {'; '.join(problems)}")
    return PenDigits(points=points, stroke_offsets=so.astype(np.int64), digit_offsets=do.astype(np.int64),
                     labels=labels.astype(np.int64), writers=writers.astype(np.int64),
                     index=np.arange(n, dtype=np.int64), source=str(path), sha256=file_sha256(path))


def placements(index, seed: int, ranges: PlacementRanges = PLACEMENT_RANGES) -> list[Placement]:
    """One ``Placement`` per digit (``index``: the digits' rows in their file), seeded by
    ``(seed, row)``. The centre is drawn later, by ``placed_strokes``, once the digit's
    width is known: here ``cx``, ``cy`` are uniform numbers in [0, 1) it maps onto the
    room the digit leaves on the page."""
    return [_placement(np.random.default_rng([int(seed), int(row)]), ranges)
            for row in np.asarray(index, np.int64).ravel()]


def _placement(rng: np.random.Generator, ranges: PlacementRanges = PLACEMENT_RANGES) -> Placement:
    lo_pen, hi_pen = (math.log(v) for v in ranges.pen)
    while True:
        height = rng.uniform(*ranges.height)
        pen = math.exp(rng.uniform(lo_pen, hi_pen))
        if pen <= ranges.max_pen_ratio * height * PAGE:
            break
    cx, cy = rng.random(2)
    return Placement(height=float(height), cx=float(cx), cy=float(cy), pen=float(pen))


def training_images(pen: PenDigits, copies: int, seed: int, augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` drawings of every digit of ``pen``, framed as the network sees them:
    uint8 (N x copies, 28, 28) and their labels. Each is drawn (by ``draw_small``) with
    its own placement (the ranges of ``placements``) and, with ``augment``, its own slant,
    rotation, aspect and elastic distortion (``aegui.augment``); all seeded by (seed,
    digit, copy)."""
    from aegui.augment import augment_strokes
    from aegui.preprocess import mnist_style, to_uint8

    images = np.zeros((len(pen) * copies, 28, 28), np.uint8)
    labels = np.repeat(np.asarray(pen.labels, np.uint8), copies)
    for j in range(len(pen)):
        strokes = pen.strokes(j)
        for c in range(copies):
            rng = np.random.default_rng([int(seed), _TRAINING_STREAM, int(pen.index[j]), c])
            where = _placement(rng)
            drawn = augment_strokes(strokes, rng) if augment else strokes
            images[j * copies + c] = to_uint8(mnist_style(draw_small(drawn, where)))
    return images, labels


def draw_small(strokes, placement: Placement) -> np.ndarray:
    """``draw_digit`` on a page shrunk, pen included, so that the drawing is at most
    ``TRAINING_HEIGHT_PX`` tall: what framing makes of it is the same to within a grey
    level or two, at a fraction of the pixels to paint (for making training images)."""
    shrink = min(1.0, TRAINING_HEIGHT_PX / max(placement.height * PAGE, 1e-9))
    small = Placement(placement.height, placement.cx, placement.cy, placement.pen * shrink)
    return draw_digit(strokes, small, max(16, round(PAGE * shrink)))


def placed_strokes(strokes, placement: Placement, page: int = PAGE,
                   ranges: PlacementRanges = PLACEMENT_RANGES) -> list[np.ndarray]:
    """The strokes scaled to ``placement.height`` of the page (smaller if that would make
    the digit wider than ``ranges.max_width``) and moved so that the whole drawing, pen
    included, lies on the page, its centre at ``placement``'s place in the room left."""
    pts = np.concatenate([np.asarray(s, np.float64).reshape(-1, 2) for s in strokes])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    extent = np.maximum(hi - lo, 1e-6)
    scale = min(placement.height * page / extent[1], ranges.max_width * page / extent[0])
    size = extent * scale
    margin = placement.pen / 2 + 1.0     # the pen's half-width and its anti-aliased rim
    room = np.maximum(page - size - 2 * margin, 0.0)
    corner = margin + room * np.array([placement.cx, placement.cy])
    return [(np.asarray(s, np.float64).reshape(-1, 2) - lo) * scale + corner for s in strokes]


def draw_digit(strokes, placement: Placement, page: int = PAGE) -> np.ndarray:
    """The page a person drawing these strokes with this placement gives the network:
    (page, page) uint8, ink bright, through the canvas's own rasteriser."""
    return draw_strokes(placed_strokes(strokes, placement, page), placement.pen, page)


def pen_training_set(path: str | os.PathLike, writers, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training images drawn from the pen strokes of ``writers`` in ``path`` (``copies``
    per digit, see ``training_images``), and what to record about them. Refuses the
    validation writers: the benchmark must meet only strangers."""
    import time

    writers = tuple(writers)
    overlap = sorted(set(writers) & set(VALIDATION_WRITERS))
    if overlap:
        raise ValueError(f"writers {overlap} are validation writers (aegui.pen_data.VALIDATION_WRITERS); "
                         f"training on them would leave the drawn-digits benchmark nobody unseen")
    if copies < 1:
        raise ValueError(f"pen copies: {copies}; expected at least 1")
    pen = load_pen_digits(path).of_writers(writers)
    if not len(pen):
        raise ValueError(f"{path}: no digits by writers {parse_writers_text(writers)}")
    start = time.perf_counter()
    images, labels = training_images(pen, copies, seed)
    info = {"pen_data_file": Path(pen.source).name, "pen_data_sha256": pen.sha256,
            "pen_writers": parse_writers_text(writers), "pen_digits": len(pen), "pen_copies": copies,
            "pen_render_seconds": round(time.perf_counter() - start, 1)}
    return images, labels, info


def parse_writers_text(writers) -> str:
    """The inverse of ``parse_writers``: (0, 1, 2, 5) -> "0-2,5"."""
    ws = sorted(set(int(w) for w in writers))
    parts, i = [], 0
    while i < len(ws):
        j = i
        while j + 1 < len(ws) and ws[j + 1] == ws[j] + 1:
            j += 1
        parts.append(f"{ws[i]}-{ws[j]}" if j > i else str(ws[i]))
        i = j + 1
    return ",".join(parts)

