"""Text is readable: every label of the window, the muted hint lines included, has at least
4.5:1 contrast against its background (WCAG AA), in a light palette and in a dark one."""

from __future__ import annotations

import pytest
from gui_helpers import settle
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel

from aegui.gui.contrast import READABLE, contrast_ratio, muted
from aegui.gui.views import HintLabel, TextLine


def test_the_contrast_ratio_is_wcags():
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((120, 30, 200), (120, 30, 200)) == pytest.approx(1.0)
    assert contrast_ratio((118, 118, 118), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)   # #767676: AA's edge


@pytest.mark.parametrize("text, background", [((0, 0, 0), (239, 239, 239)), ((232, 232, 232), (43, 43, 43)),
                                              ((20, 40, 90), (250, 245, 230))])
def test_a_muted_colour_is_quieter_than_the_text_yet_readable(text, background):
    quiet = muted(text, background)
    assert READABLE <= contrast_ratio(quiet, background) < contrast_ratio(text, background)
    assert quiet != tuple(text)


DARK = {QPalette.ColorRole.Window: "#2b2b2b", QPalette.ColorRole.WindowText: "#e8e8e8",
        QPalette.ColorRole.Base: "#1e1e1e", QPalette.ColorRole.Text: "#e8e8e8", QPalette.ColorRole.Button: "#353535",
        QPalette.ColorRole.ButtonText: "#e8e8e8"}


@pytest.fixture(params=["light", "dark"])
def palette(request, qapp):
    before = qapp.palette()
    palette = qapp.style().standardPalette()
    if request.param == "dark":
        for role, colour in DARK.items():
            palette.setColor(role, QColor(colour))
            palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour).darker(150) if role in (
                QPalette.ColorRole.WindowText, QPalette.ColorRole.Text) else QColor(colour))
    qapp.setPalette(palette)
    QApplication.processEvents()
    yield request.param
    qapp.setPalette(before)
    QApplication.processEvents()


def painted(widget) -> QColor:
    """The colour ``widget``'s text is painted in."""
    group = QPalette.ColorGroup.Active if widget.isEnabled() else QPalette.ColorGroup.Disabled
    return widget.palette().color(group, widget.foregroundRole())


def background(widget) -> QColor:
    parent = widget.parentWidget()
    return (parent or widget).palette().color(QPalette.ColorRole.Window)


def test_every_label_of_the_window_is_readable(window, qtbot, palette):
    for dock in (window.traversal_dock, window.manifold_dock, window.drawings_dock, window.interpolation_dock):
        dock.raise_()
    settle(qtbot, window)
    labels = [w for w in window.findChildren(QLabel) + window.findChildren(TextLine) if w.isVisible()]
    hints = [w for w in labels if isinstance(w, HintLabel)]
    assert len(hints) >= 4
    for label in labels:
        ratio = contrast_ratio(painted(label).getRgb(), background(label).getRgb())
        text = label.text() if hasattr(label, "text") else ""
        assert ratio >= READABLE, f"{palette}: {ratio:.2f}:1 for {type(label).__name__} {text[:40]!r}"
    for hint in hints:     # quieter than the text around it
        assert painted(hint) != hint.parentWidget().palette().color(QPalette.ColorRole.WindowText)


def test_a_line_a_little_too_wide_is_drawn_smaller_and_whole_and_a_much_longer_one_is_cut(qtbot):
    line = TextLine("", "Looks like a 2")
    qtbot.addWidget(line)
    text = "Looks like a 2 (100% sure) · neighbours: 10 of 10 are 2s"
    line.setText(text)
    line.resize(round(line.fontMetrics().horizontalAdvance(text) * 0.9) + 8, 30)
    font, shown = line.fitted()
    assert shown == text and font.pointSizeF() < line.font().pointSizeF()
    line.resize(round(line.fontMetrics().horizontalAdvance(text) * 0.5) + 8, 30)
    font, shown = line.fitted()
    assert shown.endswith("…") and font.pointSizeF() == pytest.approx(line.font().pointSizeF() * TextLine.SMALLEST)
