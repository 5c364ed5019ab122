"""Helpers of the Qt tests: a small real model, real mouse drags, waiting for results."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

__all__ = ["drag", "draw_digit", "make_model", "page_to_widget", "settle"]


def make_model(kind: str = "ae", latent_dim: int = 16, references: int | None = None, seed: int = 0):
    """An untrained model of the real architecture with made-up reference codes: by
    default for the shipped reference digits (their labels, a made-up map: the first two
    coordinates), so the app has nothing to lay out; ``references``: that many codes of
    no particular digits and no map (the app then lays one out in the background)."""
    from aegui import models
    from aegui.reference import load_reference

    model = models.create(kind, latent_dim, seed=seed)
    rng = np.random.default_rng(seed)
    digits = load_reference() if references is None else None
    labels = digits.labels if digits is not None else (np.arange(references) % 10).astype(np.uint8)
    centres = rng.normal(0.0, 1.0, (10, latent_dim)).astype(np.float32)
    codes = centres[labels] + 0.1 * rng.normal(size=(len(labels), latent_dim)).astype(np.float32)
    if digits is None:
        model.reference = models.Reference(codes=codes, labels=labels)
    else:
        xy = (codes[:, :2] * 10).astype(np.float32) if latent_dim > 2 else None
        model.reference = models.Reference(codes=codes, labels=np.array(labels), indices=np.array(digits.indices),
                                           xy=xy, map_settings={"method": "made-up"} if xy is not None else {})
    return model


def settle(qtbot, win, timeout: int = 20000) -> None:
    """Until the worker is idle and its results (and throttled views) are shown."""
    from aegui.gui.app import settle as settle_app

    assert settle_app(win, timeout / 1000)
    qtbot.wait(2 * 33 + 10)   # the throttled secondary views
    assert settle_app(win, timeout / 1000)


def page_to_widget(canvas, x: float, y: float) -> QPointF:
    page = canvas.page_rect()
    scale = page.width() / canvas.document.size
    return QPointF(page.left() + x * scale, page.top() + y * scale)


def drag(widget, points, button=Qt.MouseButton.LeftButton) -> None:
    """A real drag: press, moves with the button held, release (widget coordinates)."""
    first = QPointF(*points[0]) if not isinstance(points[0], QPointF) else points[0]
    QTest.mousePress(widget, button, Qt.KeyboardModifier.NoModifier, first.toPoint())
    last = first
    for p in points[1:]:
        last = QPointF(*p) if not isinstance(p, QPointF) else p
        event = QMouseEvent(QEvent.Type.MouseMove, last, widget.mapToGlobal(last),
                            Qt.MouseButton.NoButton, button, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)
    QTest.mouseRelease(widget, button, Qt.KeyboardModifier.NoModifier, last.toPoint())


def draw_digit(canvas, digit: str = "3", seed: int = 0) -> None:
    """Draw a sample digit on the canvas with real mouse drags."""
    from aegui.gui.samples import digit_strokes

    for stroke in digit_strokes(digit, step=12.0, seed=seed):
        drag(canvas, [page_to_widget(canvas, x, y) for x, y in stroke])
