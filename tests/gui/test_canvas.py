"""The canvas widget: real mouse and tablet events in, the document and raster out."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from gui_helpers import drag, page_to_widget
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QImage, QInputDevice, QPainter, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

from aegui import exports
from aegui.gui.canvas import Canvas, ImageFileError, picture_from_file, picture_from_image
from aegui.document import PAGE
from aegui.preprocess import mnist_style


@pytest.fixture
def canvas(qtbot):
    widget = Canvas()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def line(canvas, a, b, n=12):
    return [page_to_widget(canvas, a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            for t in np.linspace(0, 1, n)]


def test_an_empty_canvas_frames_to_zeros(canvas):
    assert canvas.raster().shape == (PAGE, PAGE)
    assert canvas.raster().max() == 0
    assert not mnist_style(canvas.raster()).any()


def test_a_drag_draws_bright_ink_along_its_path_only(canvas, qtbot):
    with qtbot.waitSignals([canvas.drawingChanged] * 3):
        drag(canvas, line(canvas, (100, 256), (400, 256)))
    raster = canvas.raster()
    assert raster[256, 150:350].min() == 255          # on the path: full ink
    assert raster[256, 60].max() == 0 and raster[100].max() == 0
    assert 0 < (raster > 0).mean() < 0.1
    strokes = canvas.document.visible()[1]
    assert len(strokes) == 1 and strokes[0].finished
    assert strokes[0].width == canvas.pen_width


def test_moves_without_the_button_held_draw_nothing(canvas):
    from PySide6.QtGui import QMouseEvent

    for p in line(canvas, (50, 50), (300, 300)):
        QApplication.sendEvent(canvas, QMouseEvent(QEvent.Type.MouseMove, p, canvas.mapToGlobal(p),
                                                   Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                                   Qt.KeyboardModifier.NoModifier))
    assert canvas.raster().max() == 0 and canvas.document.is_empty()


def test_a_redraw_from_the_document_paints_exactly_what_the_strokes_painted(canvas):
    drag(canvas, line(canvas, (100, 100), (300, 400)))
    drag(canvas, line(canvas, (350, 80), (120, 300), n=30))
    live = canvas.raster()
    canvas.document.undo()
    assert not np.array_equal(canvas.raster(), live)
    canvas.document.redo()
    np.testing.assert_array_equal(canvas.raster(), live)


def test_resizing_changes_the_view_but_not_the_drawing(canvas, qtbot):
    drag(canvas, line(canvas, (100, 100), (400, 400)))
    before = canvas.raster()
    first_page = canvas.page_rect()
    canvas.resize(700, 650)
    qtbot.waitUntil(lambda: canvas.page_rect() != first_page)
    np.testing.assert_array_equal(canvas.raster(), before)
    page = canvas.page_rect()
    assert page.width() == page.height() == 650 - 16
    # The view is painted at device pixels; a point maps to the same page place.
    assert canvas._view.width() == round(page.width() * canvas.devicePixelRatioF())
    x, y = canvas.to_page(page_to_widget(canvas, 200, 300))
    assert (x, y) == pytest.approx((200, 300))


def test_the_eraser_removes_ink(canvas):
    drag(canvas, line(canvas, (100, 256), (400, 256)))
    canvas.eraser = True
    drag(canvas, line(canvas, (250, 100), (250, 400)))
    raster = canvas.raster()
    assert raster[256, 250] == 0 and raster[256, 150] == 255
    assert canvas.document.visible()[1][-1].erase



@pytest.mark.parametrize("library", ["compiled", "numpy"])
def test_the_view_shows_each_stroke_in_the_palette_colours_as_it_is_painted(canvas, monkeypatch, library):
    # The view is recoloured where the pen paints, move by move (by the compiled
    # colour_box once the library is loaded, else numpy): it must end as a whole recolour.
    from aegui import native
    from aegui.ops import _extension

    if library == "compiled" and (not _extension.status().loaded or native.kernel("colour_box") is None):
        pytest.skip("the op's compiled library is not loaded: the canvas colours with numpy here")
    if library == "numpy":
        monkeypatch.setattr(native, "kernel", lambda name: None)
    drag(canvas, line(canvas, (100, 256), (400, 256)))
    drag(canvas, line(canvas, (350, 80), (120, 300), n=30))
    canvas.eraser = True
    drag(canvas, line(canvas, (250, 100), (250, 400)))
    assert canvas._ink.any()
    np.testing.assert_array_equal(canvas._rgb, canvas._colours[canvas._ink])

def tablet(canvas, kind, xy, pressure, buttons=Qt.MouseButton.LeftButton):
    device = QPointingDevice("pen", 1, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
                             QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3)
    pos = page_to_widget(canvas, *xy)
    event = QTabletEvent(kind, device, pos, canvas.mapToGlobal(pos), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                         Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, buttons)
    QApplication.sendEvent(canvas, event)
    return event


def test_tablet_pressure_sets_the_stroke_width(canvas):
    widths = []
    for pressure, y in ((1.0, 150), (0.2, 350)):
        tablet(canvas, QEvent.Type.TabletPress, (100, y), pressure)
        for x in range(110, 400, 10):
            tablet(canvas, QEvent.Type.TabletMove, (x, y), pressure)
        event = tablet(canvas, QEvent.Type.TabletRelease, (400, y), pressure, Qt.MouseButton.NoButton)
        assert event.isAccepted()
        widths.append(int((canvas.raster()[:, 250] > 127)[y - 60: y + 60].sum()))
    assert len(canvas.document.visible()[1]) == 2
    assert widths[0] == pytest.approx(canvas.pen_width, abs=2)
    assert widths[1] < widths[0] / 2


def image_of(array) -> QImage:
    array = np.ascontiguousarray(array, np.uint8)
    h, w = array.shape
    return QImage(array.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def test_dark_ink_on_light_paper_is_turned_into_bright_ink(qapp):
    paper = np.full((60, 40), 255, np.uint8)
    paper[10:50, 18:22] = 0        # a black "1" on white
    page = picture_from_image(image_of(paper))
    assert page.shape == (PAGE, PAGE) and page.dtype == np.uint8
    assert page[PAGE // 2, PAGE // 2] > 200    # the stroke, now bright, in the middle
    assert page[5, 5] == 0 and page[PAGE // 2, 30] == 0


def test_a_transparent_image_with_dark_ink_keeps_its_ink(qapp):
    image = QImage(50, 50, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.fillRect(20, 5, 10, 40, QColor("black"))
    painter.end()
    page = picture_from_image(image)
    assert page.max() > 200
    assert page[5, 5] == 0


def test_a_saved_drawing_opens_again_as_the_same_picture(canvas, tmp_path):
    drag(canvas, line(canvas, (100, 100), (400, 300)))
    path = tmp_path / "drawing.png"
    exports.write(path, exports.png_bytes(canvas.raster()))   # as Save Drawing does
    page = picture_from_file(str(path))
    np.testing.assert_array_equal(page, canvas.raster())
    assert [p.name for p in tmp_path.iterdir()] == ["drawing.png"]   # no temporary left


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\ntruncated"])
def test_an_unreadable_image_file_raises_naming_the_file(qapp, tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageFileError, match="broken.png"):
        picture_from_file(str(path))


def test_a_jpeg_and_a_bmp_open_too(qapp, tmp_path):
    paper = np.zeros((64, 64), np.uint8)
    paper[8:56, 28:36] = 255
    for suffix in ("jpg", "bmp"):
        path = tmp_path / f"digit.{suffix}"
        assert image_of(paper).save(str(path))
        page = picture_from_file(str(path))
        assert page[PAGE // 2, PAGE // 2] > 200 and page[10, 10] < 30


HIGH_DPI_SCRIPT = r"""
import os, sys
import numpy as np
import aegui.gui
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from aegui.gui.canvas import Canvas
app = QApplication([])
canvas = Canvas()
canvas.resize(300, 300)
canvas.show()
QTest.qWaitForWindowExposed(canvas)
page = canvas.page_rect()
points = [QPointF(page.left() + page.width() * t, page.top() + page.height() * (0.2 + 0.6 * t))
          for t in np.linspace(0.2, 0.8, 15)]
QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0].toPoint())
for p in points[1:]:
    QApplication.sendEvent(canvas, QMouseEvent(QEvent.Type.MouseMove, p, canvas.mapToGlobal(p), Qt.MouseButton.NoButton,
                                               Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1].toPoint())
np.save(sys.argv[1], canvas.raster())
print(canvas.devicePixelRatioF(), canvas._view.width(), page.width())
"""


def test_on_a_high_dpi_screen_the_view_has_more_pixels_and_the_drawing_is_the_same(tmp_path):
    results = {}
    for scale in ("1", "2"):
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": scale}
        out = tmp_path / f"raster{scale}.npy"
        done = subprocess.run([sys.executable, "-c", HIGH_DPI_SCRIPT, str(out)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        ratio, view_pixels, page_width = map(float, done.stdout.split())
        results[scale] = (ratio, view_pixels, page_width, np.load(out))
    assert results["1"][0] == 1.0 and results["2"][0] == 2.0
    assert results["2"][1] == 2 * results["2"][2]             # the view at device pixels
    assert results["1"][1] == results["1"][2]
    difference = np.abs(results["1"][3].astype(int) - results["2"][3])
    assert results["1"][3].max() == 255
    assert difference.mean() < 0.5     # the same drawing, up to sub-pixel rounding of the pointer


def test_the_canvas_follows_a_palette_change(canvas):
    from PySide6.QtGui import QPalette

    dark = QPalette(canvas.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#202020"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#f0f0f0"))
    canvas.setPalette(dark)
    centre = canvas._view.width() // 2
    assert QColor(canvas._view.pixel(centre, centre)).name() == "#202020"
    drag(canvas, line(canvas, (100, 256), (400, 256)))
    y = canvas._view.height() // 2
    assert QColor(canvas._view.pixel(centre, y)).name() == "#f0f0f0"
    assert canvas.raster()[256, 256] == 255       # what the network sees is unchanged


def test_the_canvas_shows_exactly_what_the_headless_renderer_gives_the_network(canvas, qtbot):
    from PySide6.QtGui import QPalette

    from aegui.document import draw_strokes

    # White ink on black paper and a page of exactly PAGE device pixels: what is on the
    # screen is then the raster itself, pixel for pixel.
    palette = QPalette(canvas.palette())
    palette.setColor(QPalette.ColorRole.Base, QColor("#000000"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#ffffff"))
    canvas.setPalette(palette)
    canvas.resize(PAGE + 16, PAGE + 16)
    qtbot.waitUntil(lambda: canvas.page_rect().width() == PAGE)
    canvas.pen_width = 21.0
    drag(canvas, line(canvas, (100, 120), (420, 380), n=40))
    drag(canvas, [page_to_widget(canvas, 256 + 120 * np.cos(a), 256 + 90 * np.sin(a))
                  for a in np.linspace(0, 5, 60)])
    QApplication.sendEvent(canvas, QEvent(QEvent.Type.Leave))     # the pen's ring goes with the pointer
    page = canvas.page_rect().toRect()
    shown = canvas.grab(page).toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(shown.constBits(), np.uint8).reshape(shown.height(), shown.bytesPerLine())
    np.testing.assert_array_equal(rows[:, :PAGE], canvas.raster())
    # ... and rendering the recorded strokes headless gives the same page.
    paths = [[(x, y) for x, y, _ in stroke.points] for stroke in canvas.document.visible()[1]]
    np.testing.assert_array_equal(draw_strokes(paths, 21.0), canvas.raster())
    assert canvas.raster().max() == 255
