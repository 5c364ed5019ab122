"""Drawings that are not digits: dots and scribbles, as pointer paths.

The verdict has to say "not a digit" for them (``aegui.verdict``), so the verdict head is
shown examples of them when it is trained (``aegui.verdict_fit``) and the drawn-digits
benchmark counts how many it rejects (``aegui.drawn``). Framing (``aegui.preprocess``)
blows any drawing up to the 20x20 box, so a dot arrives as a round blob of MNIST's size
and a scribble as a tangle of strokes: to the network, neither is told apart from a digit
by its size.

* A dot is a tap: one point, or two or three within a pixel or two (a hand that shook).
* A scribble is one to three strokes through 6 to 16 points thrown at random into the
  drawing's box, smoothed by the canvas's own curves: a tangle, with several crossings.

Both are placed with the same sizes, places and pens as digits (``aegui.pen_data``).
Pure numpy.
"""

from __future__ import annotations

import numpy as np

from aegui.document import PAGE
from aegui.pen_data import PLACEMENT_RANGES, Placement, placements

__all__ = ["KINDS", "dot", "non_digit", "scribble"]

KINDS = ("dot", "scribble")


def dot(rng: np.random.Generator) -> list[np.ndarray]:
    """A tap, in tablet-like units (its own box; ``aegui.pen_data.placed_strokes`` places it)."""
    count = int(rng.integers(1, 4))
    return [np.cumsum(rng.normal(0.0, 0.7, (count, 2)), axis=0) + 100.0]


def scribble(rng: np.random.Generator) -> list[np.ndarray]:
    """One to three random strokes through 6 to 16 points in a box 100 units tall."""
    aspect = rng.uniform(0.5, 1.5)
    strokes = []
    for _ in range(int(rng.integers(1, 4))):
        count = int(rng.integers(6, 17))
        strokes.append(rng.random((count, 2)) * np.array([100.0 * aspect, 100.0]))
    return strokes


def non_digit(kind: str, index: int, seed: int, page: int = PAGE) -> tuple[list[np.ndarray], Placement]:
    """Non-digit number ``index`` of ``kind`` for ``seed``: its strokes (tablet-like units)
    and its placement on the page, drawn from the same ranges as the digits'. A dot's
    "height" is that of its pen: it is drawn no larger than a tap makes it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    stream = KINDS.index(kind) + 1
    rng = np.random.default_rng([int(seed), stream, int(index)])
    where = placements([index], seed=int(seed) * 7 + stream)[0]
    if kind == "scribble":
        return scribble(rng), where
    strokes = dot(rng)
    # A tap spans a pixel or two whatever the pen: its "height" keeps it at scale 1
    # (placed_strokes scales the points' vertical extent, at least 1e-6, to height x page).
    height = max(float(np.ptp(np.concatenate(strokes)[:, 1])), 1e-6) / page
    pen = float(np.exp(rng.uniform(*np.log(PLACEMENT_RANGES.pen))))
    return strokes, Placement(height=float(height), cx=where.cx, cy=where.cy, pen=pen)
