"""The drawing document (plain Python, no Qt): strokes, segments, undo and redo, its raster."""

from __future__ import annotations

import numpy as np
import pytest

from aegui.document import MAX_HISTORY, MIN_STEP, PAGE, Clear, DrawingDocument, Picture, pressure_width
from aegui.gui.samples import DIGITS, digit_strokes


def stroke(doc, points, width=10.0, erase=False):
    doc.begin_stroke(*points[0], width=width, erase=erase)
    for p in points[1:]:
        doc.extend_stroke(*p)
    doc.end_stroke()


def test_a_stroke_announces_each_new_segment_and_a_full_redraw_repeats_them():
    doc = DrawingDocument()
    heard = []
    doc.observe(heard.append)
    stroke(doc, [(10, 10), (20, 10), (30, 20), (40, 40)])
    incremental = [seg for change in heard for seg in change]
    assert [s.kind for s in incremental] == ["dot", "line", "quad", "quad", "line"]
    assert incremental == doc.segments()
    # The chain is continuous: each segment starts where the previous one ended.
    for before, after in zip(incremental[1:], incremental[2:]):
        assert before.points[-1] == after.points[0]
    assert incremental[-1].points[-1] == (40.0, 40.0)


def test_points_closer_than_the_minimum_step_are_ignored():
    doc = DrawingDocument()
    doc.begin_stroke(100, 100, width=8)
    assert doc.extend_stroke(100 + MIN_STEP / 2, 100) == []
    assert len(doc.extend_stroke(110, 100)) == 1
    assert len(doc.visible()[1][0].points) == 2


def test_moves_without_a_stroke_do_nothing():
    doc = DrawingDocument()
    assert doc.extend_stroke(5, 5) == []
    assert doc.end_stroke() == []
    assert doc.is_empty() and not doc.can_undo


def test_undo_and_redo_go_stroke_by_stroke_and_a_new_stroke_drops_the_redo_history():
    doc = DrawingDocument()
    stroke(doc, [(0, 0), (50, 50)])
    stroke(doc, [(60, 0), (60, 90)])
    assert len(doc.visible()[1]) == 2
    assert doc.undo() and len(doc.visible()[1]) == 1
    assert doc.can_redo
    assert doc.redo() and len(doc.visible()[1]) == 2
    assert not doc.redo()
    doc.undo()
    stroke(doc, [(1, 1), (9, 9)])
    assert not doc.can_redo
    assert doc.undo() and doc.undo() and not doc.undo()
    assert doc.is_empty()


def test_undo_during_a_stroke_ends_it_first_and_takes_it_back():
    doc = DrawingDocument()
    doc.begin_stroke(10, 10, width=5)
    doc.extend_stroke(30, 30)
    assert doc.undo()
    assert not doc.in_stroke and doc.is_empty() and doc.can_redo


def test_clear_is_undoable_and_a_no_op_on_an_empty_page():
    doc = DrawingDocument()
    doc.clear()
    assert not doc.can_undo
    stroke(doc, [(0, 0), (10, 10)])
    doc.clear()
    assert doc.is_empty() and doc.segments() == []
    assert isinstance(doc._edits[-1], Clear)
    doc.undo()
    assert not doc.is_empty() and len(doc.segments()) == 3


def test_a_picture_replaces_the_drawing_and_strokes_go_on_top():
    doc = DrawingDocument()
    stroke(doc, [(0, 0), (10, 10)])
    pixels = np.zeros((PAGE, PAGE), np.uint8)
    pixels[100:200, 100:200] = 255
    doc.place_picture(pixels)
    picture, strokes = doc.visible()
    assert isinstance(picture, Picture) and strokes == []
    pixels[:] = 0   # the document keeps its own copy
    assert doc.visible()[0].pixels.max() == 255
    stroke(doc, [(300, 300), (310, 310)])
    assert len(doc.visible()[1]) == 1
    with pytest.raises(ValueError, match="512, 512"):
        doc.place_picture(np.zeros((10, 10), np.uint8))


def test_a_long_session_keeps_a_bounded_history_and_the_page_unchanged():
    doc = DrawingDocument()
    for i in range(3 * MAX_HISTORY):       # digits of three strokes, each cleared after
        stroke(doc, [(i % 500, 0), (i % 500, 40)])
        if i % 3 == 2:
            doc.clear()
    stroke(doc, [(7, 7), (70, 70)])
    stroke(doc, [(9, 9), (90, 9)])
    assert len(doc._edits) <= MAX_HISTORY
    shown = doc.segments()
    assert len(doc.visible()[1]) == 2
    undone = 0
    while doc.undo():
        undone += 1
    # Undo goes back through hundreds of edits, never past what was forgotten.
    assert MAX_HISTORY // 2 <= undone <= MAX_HISTORY
    while doc.redo():
        pass
    assert doc.segments() == shown


def test_without_a_clear_to_cut_at_the_history_is_kept_whole():
    doc = DrawingDocument()
    for i in range(MAX_HISTORY + 10):
        stroke(doc, [(i % 500, 0), (i % 500, 40)])
    assert len(doc.visible()[1]) == MAX_HISTORY + 10


def test_erasing_an_empty_page_leaves_it_empty():
    doc = DrawingDocument()
    stroke(doc, [(0, 0), (10, 10)], erase=True)
    assert doc.is_empty()
    assert all(seg.erase for seg in doc.segments())


def test_pressure_scales_the_width_but_never_to_nothing():
    assert pressure_width(20, 1.0) == 20
    assert 0 < pressure_width(20, 0.0) < pressure_width(20, 0.5) < 20
    assert pressure_width(20, 7.0) == 20
    doc = DrawingDocument()
    doc.begin_stroke(0, 0, width=20, pressure=0.2)
    assert doc.segments()[0].width == pytest.approx(pressure_width(20, 0.2))
    with pytest.raises(ValueError):
        doc.begin_stroke(0, 0, width=0)


@pytest.mark.parametrize("digit", DIGITS)
def test_sample_digits_stay_on_the_page_with_mouse_like_spacing(digit):
    strokes = digit_strokes(digit, step=6.0)
    for points in strokes:
        assert points.shape[1] == 2 and len(points) > 5
        assert points.min() > 0 and points.max() < PAGE
        steps = np.hypot(*np.diff(points, axis=0).T)
        assert np.median(steps) == pytest.approx(6.0, abs=1.0)
    with pytest.raises(ValueError, match="no sample"):
        digit_strokes("x")


def holds_all_ink(doc) -> bool:
    page, crop = doc.raster(), doc.inked()
    return int(crop.sum(dtype=np.int64)) == int(page.sum(dtype=np.int64))


def test_the_inked_part_of_the_page_holds_all_of_its_ink_through_every_kind_of_edit():
    # What the network is sent at each move: a part of the page, never a pixel of ink less.
    doc = DrawingDocument()
    assert doc.inked().shape == (1, 1) and not doc.inked().any()
    edits = [lambda: stroke(doc, [(100, 120), (180, 160), (220, 300)]),
             lambda: stroke(doc, [(400, 40), (460, 90)], width=30),
             lambda: stroke(doc, [(90, 100), (300, 300)], width=60, erase=True),
             doc.undo, doc.redo, doc.undo, doc.undo, doc.redo,
             lambda: doc.place_picture(np.pad(np.full((50, 70), 200, np.uint8), ((300, 162), (20, 422)))),
             lambda: stroke(doc, [(10, 500), (30, 505)], width=4),
             doc.clear, doc.undo]
    for edit in edits:
        edit()
        assert holds_all_ink(doc)
        assert doc.inked().size < doc.raster().size or doc.raster().all()
    doc.clear()
    assert not doc.inked().any()


def test_the_inked_part_holds_the_ink_while_a_stroke_is_drawn():
    doc = DrawingDocument()
    doc.begin_stroke(256, 256, width=12)
    assert holds_all_ink(doc) and doc.inked().any()
    for x in range(260, 480, 9):
        doc.extend_stroke(x, 256 + (x - 256) // 3)
        assert holds_all_ink(doc)
