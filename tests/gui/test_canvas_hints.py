"""The canvas shows the tool before it draws: a ring of the pen's (or eraser's) real width
follows the pointer; and, the first time, a hint on the empty page says where to draw."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import drag, page_to_widget
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from aegui.gui.canvas import HINT, Canvas


def hover(widget, p: QPointF) -> None:
    QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseMove, p, widget.mapToGlobal(p), Qt.MouseButton.NoButton,
                                               Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


@pytest.fixture
def canvas(qtbot):
    c = Canvas()
    qtbot.addWidget(c)
    c.resize(600, 600)
    c.show()
    qtbot.waitExposed(c)
    return c


def grey(image, p: QPointF) -> int:
    return image.pixelColor(round(p.x()), round(p.y())).value()


def test_a_ring_of_the_pens_real_width_follows_the_pointer(canvas):
    centre = page_to_widget(canvas, 256, 256)
    assert canvas.outline_rect().isEmpty()
    hover(canvas, centre)
    scale = canvas.page_rect().width() / canvas.document.size
    rect = canvas.outline_rect()
    assert rect.center() == centre and rect.width() == pytest.approx(32 * scale)
    canvas.pen_width = 100
    assert canvas.outline_rect().width() == pytest.approx(100 * scale)
    image = canvas.grab().toImage()
    radius = 50 * scale
    assert grey(image, centre + QPointF(radius, 0)) < 200           # the ring, dark on white paper
    assert grey(image, centre) == 255 and grey(image, centre + QPointF(radius - 6, 0)) == 255   # inside: paper
    canvas.resize(900, 900)                                           # the page grows: so does the ring
    hover(canvas, page_to_widget(canvas, 256, 256))
    assert canvas.outline_rect().width() == pytest.approx(100 * canvas.page_rect().width() / 512)


def test_the_eraser_ring_is_dashed_and_the_ring_goes_when_the_pointer_leaves(canvas):
    centre = page_to_widget(canvas, 256, 256)
    hover(canvas, centre)
    canvas.pen_width = 100
    solid = canvas.grab().toImage()
    canvas.eraser = True
    dashed = canvas.grab().toImage()
    r = 50 * canvas.page_rect().width() / 512
    ring = [centre + QPointF(r * np.cos(a), r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 240, endpoint=False)]
    assert sum(grey(dashed, p) > 230 for p in ring) > sum(grey(solid, p) > 230 for p in ring) + 30   # gaps
    QApplication.sendEvent(canvas, QEvent(QEvent.Type.Leave))
    assert canvas.outline_rect().isEmpty()
    image = canvas.grab().toImage()
    assert min(grey(image, p) for p in ring) == 255


def hint_ink(canvas) -> int:
    """Pixels of the page that are not paper."""
    image = canvas.grab(canvas.page_rect().toAlignedRect().adjusted(2, 2, -2, -2)).toImage()
    return sum(image.pixelColor(x, y).value() < 250 for x in range(0, image.width(), 3)
               for y in range(image.height() // 2 - 30, image.height() // 2 + 30, 3))


def test_the_first_run_hint_shows_on_the_empty_page_until_the_first_stroke_for_good(window, qtbot, tmp_path, model):
    canvas = window.canvas
    assert canvas.hint == HINT and hint_ink(canvas) > 20
    drag(canvas, [page_to_widget(canvas, 100, y) for y in range(60, 120, 10)])     # away from the hint
    assert canvas.hint == "" and window.settings.drawn_before
    window.tools.clear_action.trigger()
    assert hint_ink(canvas) == 0
    window.write_settings()
    from aegui.gui import create_window
    from aegui.gui.settings import Settings

    again = create_window(model, settings=Settings(window.settings.file_name), data_dir=tmp_path / "data")
    qtbot.addWidget(again)
    assert again.canvas.hint == ""
    again.close()


def test_the_view_after_undo_and_redo_is_the_view_painted_from_scratch(canvas, qtbot):
    rng = np.random.default_rng(3)
    doc = canvas.document
    for step in range(60):
        action = rng.choice(["stroke", "undo", "redo", "clear"], p=[0.5, 0.3, 0.15, 0.05])
        if action == "stroke":
            points = rng.uniform(40, 470, 2) + np.cumsum(rng.normal(0, 30, (6, 2)), axis=0)
            canvas.pen_width = float(rng.uniform(10, 80))
            drag(canvas, [page_to_widget(canvas, x, y) for x, y in points])
        else:
            getattr(doc, action)()
        kept = canvas._ink.copy()
        canvas._prefixes.clear()
        canvas._redraw_view()
        np.testing.assert_array_equal(kept, canvas._ink, err_msg=f"step {step}: {action}")
