"""Undo and redo repaint from the page as it was before the last strokes: the result is the
page painted from scratch, byte for byte, and undoing the last stroke paints nothing."""

from __future__ import annotations

import numpy as np

from aegui import prefix_cache
from aegui.document import DrawingDocument
from aegui.raster import paint_segments


def from_scratch(doc: DrawingDocument) -> np.ndarray:
    picture, _ = doc.visible()
    page = picture.pixels.copy() if picture is not None else np.zeros((doc.size, doc.size), np.uint8)
    paint_segments(page, doc.segments())
    return page


def stroke(doc, rng, erase=False):
    points = rng.uniform(30, 480, 2) + np.cumsum(rng.normal(0, 25, (int(rng.integers(2, 12)), 2)), axis=0)
    doc.begin_stroke(*points[0], width=float(rng.uniform(8, 90)), erase=erase)
    for x, y in points[1:]:
        doc.extend_stroke(x, y)
    doc.end_stroke()


def test_every_repaint_is_the_page_painted_from_scratch():
    rng = np.random.default_rng(0)
    doc = DrawingDocument()
    picture = np.zeros((512, 512), np.uint8)
    picture[100:200, 150:170] = 200
    for step in range(300):
        action = rng.choice(["stroke", "eraser", "undo", "redo", "clear", "picture"], p=[.4, .1, .25, .15, .05, .05])
        if action in ("stroke", "eraser"):
            stroke(doc, rng, erase=action == "eraser")
        elif action == "undo":
            doc.undo()
        elif action == "redo":
            doc.redo()
        elif action == "clear":
            doc.clear()
        else:
            doc.place_picture(picture)
        np.testing.assert_array_equal(doc.raster(), from_scratch(doc), err_msg=f"step {step}: {action}")


def test_undoing_and_redoing_the_last_strokes_paints_next_to_nothing(monkeypatch):
    rng = np.random.default_rng(1)
    doc = DrawingDocument()
    for _ in range(40):
        stroke(doc, rng)
    painted = []
    real = prefix_cache.paint_segments
    monkeypatch.setattr(prefix_cache, "paint_segments", lambda image, segs, scale=1.0: (
        painted.append(len(segs)), real(image, segs, scale))[1])
    last = len(doc.visible()[1][-1].segments())
    doc.undo()
    assert painted[-1] == 0                       # the page before the last stroke was kept
    doc.redo()
    assert painted[-1] == last                    # only the stroke brought back is painted
    doc.undo()
    doc.undo()
    assert painted[-1] == 0
    np.testing.assert_array_equal(doc.raster(), from_scratch(doc))
