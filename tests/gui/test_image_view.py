"""The small image views: the image with square pixels, centred, and every pixel around
it painted in the window's colour, whatever the view's shape."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtGui import QImage, QPalette

from aegui.gui.views import ImageView


def grab(view: ImageView) -> np.ndarray:
    image = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    rows = np.frombuffer(image.constBits(), np.uint32).reshape(image.height(), image.bytesPerLine() // 4)
    return rows[:, :image.width()] & 0xFFFFFF


@pytest.mark.parametrize("size", [(229, 308), (308, 229), (200, 200), (97, 140)])
def test_the_image_fills_a_centred_square_and_the_window_colour_the_rest(qtbot, size):
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    image = np.zeros((28, 28))
    image[:, 14:] = 1.0                     # paper on the left half, ink on the right
    view.set_image(image)
    pixels = grab(view)
    palette = view.palette()
    window, paper, ink = (palette.color(role).rgb() & 0xFFFFFF for role in
                          (QPalette.ColorRole.Window, QPalette.ColorRole.Base, QPalette.ColorRole.Text))
    w, h = size
    side = min(w, h) - 2
    left, top = (w - side) // 2, (h - side) // 2
    inside = pixels[top + 2:top + side - 2, left + 2:left + side - 2]
    assert set(np.unique(inside[:, : inside.shape[1] // 2 - 5])) == {paper}
    assert set(np.unique(inside[:, inside.shape[1] // 2 + 5:])) == {ink}
    outside = np.ones_like(pixels, bool)
    outside[max(top - 2, 0):top + side + 2, max(left - 2, 0):left + side + 2] = False     # the image, its frame
    assert set(np.unique(pixels[outside])) <= {window}


class _PaintedRects(QObject):
    """The rectangles of the paint events a widget gets."""

    def __init__(self):
        super().__init__()
        self.rects: list[QRect] = []

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            self.rects.append(event.rect())
        return False


def test_a_new_image_repaints_the_image_and_its_frame_not_the_margins(qtbot):
    # The views follow the pen: each drawing's answer repaints them, and the margins
    # around the image never change with it.
    view = ImageView()
    qtbot.addWidget(view)
    painted = _PaintedRects()
    view.installEventFilter(painted)
    view.resize(229, 308)
    view.show()
    qtbot.waitUntil(lambda: bool(painted.rects))       # shown: painted whole
    assert painted.rects[0] == view.rect()
    painted.rects.clear()
    view.set_image(np.ones((28, 28)))
    qtbot.waitUntil(lambda: bool(painted.rects))
    side = min(view.width(), view.height()) - 2
    left, top = (view.width() - side) // 2, (view.height() - side) // 2
    image_and_frame = QRect(left - 2, top - 2, side + 4, side + 4)
    assert all(image_and_frame.contains(rect) for rect in painted.rects)
    assert not any(rect.contains(QRect(0, 0, view.width(), 10)) for rect in painted.rects)


def test_a_view_shows_the_same_pixels_with_the_compiled_colouring_and_with_numpy(qtbot, monkeypatch):
    from aegui import native
    from aegui.ops import _extension

    if not _extension.status().loaded or native.kernel("colour_image") is None:
        pytest.skip("the op's compiled library is not loaded: the views colour with numpy here")
    rng = np.random.default_rng(3)
    images = [rng.normal(0.5, 0.5, (28, 28)).astype(np.float32), rng.random((28, 28)),
              np.full((28, 28), np.inf, np.float32), rng.random((14, 30)), rng.random((28, 28)) > 0.5,
              rng.random((28, 28))[:, ::-1], [[0.0, 1.0], [0.5, 0.25]]]
    compiled, calls = native.kernel("colour_image"), []

    def counted(*args):
        calls.append(args[0].shape)
        return compiled(*args)

    shown = {}
    for way in ("compiled", "numpy"):
        monkeypatch.setattr(native, "kernel", lambda name: counted if way == "compiled" else None)
        view = ImageView()
        qtbot.addWidget(view)
        view.resize(120, 120)
        view.show()
        qtbot.waitExposed(view)
        shown[way] = []
        for image in images:
            view.set_image(image)
            shown[way].append((view.pixels(), grab(view)))
    assert calls == [(28, 28), (28, 28), (28, 28), (14, 30)]     # float32 and float64 arrays; the rest by numpy
    for (pixels, screen), (want_pixels, want_screen) in zip(shown["compiled"], shown["numpy"]):
        np.testing.assert_array_equal(pixels, want_pixels)
        np.testing.assert_array_equal(screen, want_screen)
