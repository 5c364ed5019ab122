"""Repainting a drawing from where it last was: ink images of its first strokes, kept at
stroke boundaries.

Undo, redo and a repaint after a resize show a drawing that differs from one seen before
only by its last strokes. Painting every stroke again costs time in proportion to all the
ink ever drawn (a second or more for a few dozen wide strokes on a large, high-DPI
canvas: a frozen window), while starting from a kept image of the longest first part
that is unchanged costs only the strokes after it. ``PrefixCache`` keeps a few such
images; ``repaint`` uses it. Strokes are told apart by identity (a ``Stroke`` is the same
object in the history, undone or not), and the cache holds them, so no identity is ever
reused for another stroke while it is cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .raster import paint_segments

__all__ = ["PrefixCache", "repaint"]


class PrefixCache:
    """Up to ``keep`` ink images, each of a ``base`` (what lies under the strokes, and the
    image's size) and the first strokes painted on it; the least recently used goes first."""

    def __init__(self, keep: int = 6):
        self.keep = keep
        self._entries: list[tuple[object, tuple, np.ndarray]] = []

    def store(self, base, strokes: Sequence, ink: np.ndarray) -> None:
        """Keep ``ink``, the image of ``strokes`` (all finished) painted over ``base``."""
        strokes = tuple(strokes)
        self._entries = [e for e in self._entries if not (e[0] == base and e[1] == strokes)]
        self._entries.append((base, strokes, ink.copy()))
        del self._entries[:-self.keep]

    def longest(self, base, strokes: Sequence) -> tuple[int, np.ndarray] | None:
        """(n, ink): the image kept of the most of ``strokes``' first ones over ``base``."""
        best = None
        for i, (b, kept, ink) in enumerate(self._entries):
            n = len(kept)
            if b == base and n <= len(strokes) and all(a is c for a, c in zip(kept, strokes)) \
                    and (best is None or n > best[0]):
                best = (n, ink, i)
        if best is None:
            return None
        self._entries.append(self._entries.pop(best[2]))     # used: kept longest
        return best[0], best[1]

    def clear(self) -> None:
        self._entries.clear()


def repaint(target: np.ndarray, base, background: Callable[[], np.ndarray | None], strokes: Sequence,
            scale: float, cache: PrefixCache) -> None:
    """Paint ``strokes`` over the background (``background()``: an image the size of
    ``target``, or None for blank) into ``target``, starting from the longest prefix
    ``cache`` holds for ``base``."""
    hit = cache.longest(base, strokes)
    if hit is not None:
        done, ink = hit
        np.copyto(target, ink)
    else:
        done, under = 0, background()
        if under is None:
            target.fill(0)
        else:
            np.copyto(target, under)
    paint_segments(target, [seg for stroke in strokes[done:] for seg in stroke.segments()], scale)
