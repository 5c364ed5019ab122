"""A long session, offscreen: the real window through 10,000 strokes of real mouse events,
with model switches, latent edits, undo and redo, and the sweep docks in turn. Nothing may
raise or warn, and the process may not grow by 20 MB or more after warming up."""

from __future__ import annotations

import gc
import os
import time

import numpy as np
import pytest
from gui_helpers import page_to_widget, settle
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


STROKES = 10_000
WARMUP = 1_500              # strokes before the first measurement: every model seen once
SWITCH_EVERY = 500
GROWTH_LIMIT = 20 * 2**20   # bytes


def rss() -> int:
    """Resident memory of this process, bytes."""
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mouse(widget, kind, pos: QPointF, button=Qt.MouseButton.LeftButton) -> None:
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos),
                                               Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else button,
                                               held, Qt.KeyboardModifier.NoModifier))


def short_strokes(count: int, seed: int = 0) -> np.ndarray:
    """(count, 5, 2) page points: a press, three moves, a release, 15-40 units apart."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(80, 430, (count, 1, 2))
    steps = rng.normal(0, 1, (count, 4, 2))
    steps *= rng.uniform(15, 40, (count, 4, 1)) / np.linalg.norm(steps, axis=2, keepdims=True)
    return np.clip(np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1), 10, 502)


@pytest.fixture
def model(model_paths):
    """The soak's window (conftest's `window`) opens the first of them, by path."""
    return model_paths[0]


@pytest.mark.slow
def test_ten_thousand_strokes_with_model_switches_edits_and_undo(qtbot, window, model_paths):
    paths = model_paths
    canvas = window.canvas
    strokes = short_strokes(STROKES)
    tabs = [window.traversal_dock, window.manifold_dock, window.interpolation_dock, window.drawings_dock]
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    baseline = None

    for i, stroke in enumerate(strokes):
        if i % SWITCH_EVERY == 0 and i:
            target = paths[(i // SWITCH_EVERY) % len(paths)]
            window.models.open_model(target)
            qtbot.waitUntil(lambda target=target: window.session.info.source == target, timeout=30000)
            tabs[(i // SWITCH_EVERY) % len(tabs)].raise_()
        points = [page_to_widget(canvas, x, y) for x, y in stroke]
        mouse(canvas, QEvent.Type.MouseButtonPress, points[0])
        for p in points[1:-1]:
            mouse(canvas, QEvent.Type.MouseMove, p)
        mouse(canvas, QEvent.Type.MouseButtonRelease, points[-1])
        if i % 3 == 2:
            window.tools.clear_action.trigger()
        if i % 50 == 25:
            for _ in range(3):
                window.tools.undo_action.trigger()
            for _ in range(2):
                window.tools.redo_action.trigger()
        if i % 100 == 60 and window.session.drawing is not None and window.session.drawing.z is not None:
            window.latent_views.edit(int(rng.integers(window.session.info.latent_dim)), float(rng.normal()))
            window.latent_panel.value_spin.setValue(float(rng.normal()))
        if i % 100 == 90:
            window.latent_views.reset_action.trigger()
        if i % 250 == 120 and window.session.drawing is not None and window.session.drawing.z is not None:
            window.interpolation.pin("a" if i % 500 < 250 else "b")
        # The UI answers, but the test does not wait for the model: newest wins.
        QApplication.processEvents()
        if i + 1 == WARMUP:
            settle(qtbot, window)
            gc.collect()
            baseline = rss()

    settle(qtbot, window)
    gc.collect()
    growth = rss() - baseline
    duration = time.perf_counter() - started
    print(f"\nsoak: {STROKES} strokes in {duration:.0f} s; RSS {baseline / 2**20:.1f} MB after warm-up, "
          f"grew {growth / 2**20:+.2f} MB by the end; served {window.worker.served}")
    assert growth < GROWTH_LIMIT, f"grew by {growth / 2**20:.1f} MB"
    assert not window.errors  # inference failures: checked by the `window` fixture
    assert len(window.document._edits) <= 1000
