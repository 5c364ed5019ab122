"""No stale text: what the bars' hover line and the traversal's status line say is about
what is on screen now, after the pointer leaves, the drawing is cleared or the code edited."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import draw_digit, settle
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def point_at(bars, index: int, value: float) -> QPointF:
    box = bars.getPlotItem().getViewBox()
    return QPointF(bars.mapFromScene(box.mapViewToScene(QPointF(index, value))))


def move(widget, p: QPointF) -> None:
    """The pointer moved over ``widget`` to ``p``, no button held."""
    QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseMove, p, widget.mapToGlobal(p), Qt.MouseButton.NoButton,
                                               Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


def hover(bars, p: QPointF) -> None:
    move(bars.viewport(), p)


def shown_value(bars) -> float:
    return float(bars.hover_text.split("=")[1].split()[0])


@pytest.fixture
def hovered(window, qtbot):
    """A drawing, and the pointer over bar 4."""
    draw_digit(window.canvas, "2")
    settle(qtbot, window)
    bars = window.latent_panel.bars
    hover(bars, point_at(bars, 4, 0.0))
    qtbot.waitUntil(lambda: bars.hover_text.startswith("z[4] = "))
    return bars


def test_the_hover_line_goes_when_the_pointer_leaves_the_bars(window, hovered, qtbot):
    QApplication.sendEvent(hovered, QEvent(QEvent.Type.Leave))
    assert hovered.hover_text == ""
    assert hovered.toolTip() == ""


def test_the_hover_line_goes_when_the_pointer_moves_off_the_plot_area(window, hovered, qtbot):
    hover(hovered, QPointF(2, 2))          # over the widget, outside the bars' box (the axis corner)
    assert hovered.hover_text == ""


def test_the_hover_line_follows_an_edit_of_the_hovered_dimension(window, hovered, qtbot):
    window.latent_views.edit(4, -1.25)
    settle(qtbot, window)
    assert shown_value(hovered) == pytest.approx(-1.25, abs=1e-3)


def test_the_hover_line_follows_clearing_the_drawing(window, hovered, qtbot):
    window.tools.clear_action.trigger()
    settle(qtbot, window)
    assert not hovered.values.any()
    assert hovered.hover_text in ("", "z[4] = +0.000")


def test_the_hover_line_follows_a_new_drawing(window, hovered, qtbot):
    before = hovered.values[4]
    window.document.clear()
    draw_digit(window.canvas, "7", seed=3)
    settle(qtbot, window)
    assert hovered.values[4] != before
    assert shown_value(hovered) == pytest.approx(hovered.values[4], abs=1e-3)


def test_a_new_model_takes_the_hover_line_away(window, qtbot, hovered):
    window.session.open_model(window.session.info.source or "missing-model-name", fallback=True)
    settle(qtbot, window)
    window.incident_view.clear()
    assert hovered.hover_text == ""


def traversal_status(window) -> str:
    return window.traversal_dock.widget().status.text()


def test_the_traversal_says_what_it_shows_not_to_draw_a_digit(window, qtbot):
    window.traversal_dock.raise_()
    settle(qtbot, window)
    assert traversal_status(window).startswith("Draw a digit")
    draw_digit(window.canvas, "3")
    settle(qtbot, window)
    panel = window.traversal_dock.widget()
    assert panel.traversal is not None
    text = traversal_status(window)
    assert not text.startswith("Draw a digit")
    assert f"z[{panel.traversal.order[0]}]" in text       # names the dimension that matters most
    grid = panel.grid
    move(grid, grid.cell_rect(2, 1).center())
    assert traversal_status(window).startswith(f"z[{panel.traversal.order[2]}]: change")
    QApplication.sendEvent(grid, QEvent(QEvent.Type.Leave))
    assert traversal_status(window) == text                # the pointer left: no row's text stays
    window.tools.clear_action.trigger()
    settle(qtbot, window)
    assert panel.traversal is None and traversal_status(window).startswith("Draw a digit")


def test_bars_behind_another_tab_show_the_newest_code_once_they_come_to_the_front(window, qtbot):
    # Behind a tab they are not rebuilt at every answer (that cost a third of a millisecond
    # per answer); their values still follow, and they are drawn when they show.
    window.tabifyDockWidget(window.map_dock, window.bars_dock)
    window.map_dock.raise_()
    bars = window.latent_panel.bars
    settle(qtbot, window)
    assert bars.viewport().visibleRegion().isEmpty()
    draw_digit(window.canvas, "2")
    settle(qtbot, window)
    code = window.session.edit.current
    np.testing.assert_array_equal(bars.values, code)
    assert not np.array_equal(bars._bars.opts["height"], code)      # not drawn behind the tab
    window.bars_dock.raise_()
    qtbot.waitUntil(lambda: not bars.viewport().visibleRegion().isEmpty())
    bars.grab()                                     # painted as it shows
    np.testing.assert_array_equal(bars._bars.opts["height"], code)
