"""The drawing canvas: renders a ``DrawingDocument`` and forwards pointer events to it.

The widget keeps no drawing state of its own, only two renderings of the document:

* the *raster*, a ``PAGE`` x ``PAGE`` 8-bit image, ink bright on black, which is what
  goes to the network (``raster()``) and what "Save drawing" writes;
* the *view*, the same drawing at the widget's device pixels in the palette's colours
  (ink in the text colour on the base colour), so it is crisp on high-DPI screens and
  follows a light or dark theme.

Both are painted segment by segment as the document announces new ones, and repainted
from the document when it changes wholesale (undo, clear, an opened image) or the widget
is resized. Helpers at the end read an image file onto the page and write the raster.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSaveFile, QSize, Qt, Signal
from PySide6.QtGui import (QColor, QImage, QImageReader, QPainter, QPainterPath, QPalette,
                           QPen, QPointingDevice)
from PySide6.QtWidgets import QSizePolicy, QWidget

from .drawing import PAGE, DrawingDocument, Picture, Segment

__all__ = ["Canvas", "ImageFileError", "gray_table", "picture_from_file", "picture_from_image",
           "save_png"]

MARGIN = 8  # logical pixels between the widget's edge and the page


class Canvas(QWidget):
    """Draw with mouse or tablet; ``drawingChanged`` fires after every change of the raster."""

    drawingChanged = Signal()

    def __init__(self, document: DrawingDocument | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("canvas")
        self.document = document or DrawingDocument()
        self.pen_width = 32.0     # page units; MNIST-like strokes are 5-8 % of the page
        self.eraser = False
        self._raster = QImage(self.document.size, self.document.size, QImage.Format.Format_Grayscale8)
        self._view = QImage()
        self._page = QRectF()     # where the page lies in the widget, logical pixels
        self._picture_view: tuple[Picture, QImage] | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)
        self.setToolTip("Draw a digit (left button or pen). Undo: Ctrl+Z")
        self.document.observe(self._document_changed)
        self._redraw()

    # ------------------------------------------------------------------ reading

    def raster(self) -> np.ndarray:
        """The drawing as the network gets it: (PAGE, PAGE) uint8, ink bright (a copy)."""
        image = self._raster
        rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
        return rows[:, : image.width()].copy()

    def raster_image(self) -> QImage:
        return self._raster.copy()

    def page_rect(self) -> QRectF:
        """The page in widget coordinates (logical pixels)."""
        return QRectF(self._page)

    def to_page(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> page coordinates."""
        scale = self.document.size / max(self._page.width(), 1e-9)
        return ((pos.x() - self._page.left()) * scale, (pos.y() - self._page.top()) * scale)

    def sizeHint(self) -> QSize:
        return QSize(520, 520)

    # ------------------------------------------------------------------ events in

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        x, y = self.to_page(event.position())
        self.document.begin_stroke(x, y, self.pen_width, 1.0, erase=self.eraser)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton and self.document.drawing:
            self.document.extend_stroke(*self.to_page(event.position()))
            event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.document.end_stroke()
            event.accept()

    def tabletEvent(self, event) -> None:
        x, y = self.to_page(event.position())
        pressure = event.pressure()
        kind = event.type()
        if kind == QEvent.Type.TabletPress:
            erase = self.eraser or event.pointerType() == QPointingDevice.PointerType.Eraser
            self.document.begin_stroke(x, y, self.pen_width, pressure, erase=erase)
        elif kind == QEvent.Type.TabletMove and self.document.drawing:
            self.document.extend_stroke(x, y, pressure)
        elif kind == QEvent.Type.TabletRelease:
            self.document.end_stroke()
        # Accepted tablet events are not repeated as synthesised mouse events.
        event.accept()

    def resizeEvent(self, event) -> None:
        self._redraw_view()
        super().resizeEvent(event)

    def event(self, event) -> bool:
        # Moved to a screen of another pixel ratio: repaint the view at the new density.
        if event.type() == QEvent.Type.DevicePixelRatioChange:
            self._redraw_view()
            self.update()
        return super().event(event)

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange,
                            QEvent.Type.StyleChange):
            self._picture_view = None
            self._redraw_view()
            self.update()
        super().changeEvent(event)

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().color(QPalette.ColorRole.Window))
        painter.drawImage(self._page.topLeft(), self._view)
        pen = QPen(self.palette().color(QPalette.ColorRole.Mid), 1)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawRect(self._page.adjusted(-0.5, -0.5, 0.5, 0.5))
        painter.end()

    def _document_changed(self, segments: list[Segment] | None) -> None:
        if segments is None:
            self._redraw()
            self.update()
        else:
            self._paint_segments(self._raster, segments, 1.0)
            self._paint_segments(self._view, segments, self._view.width() / self.document.size)
            self.update(self._dirty_rect(segments))
        self.drawingChanged.emit()

    def _redraw(self) -> None:
        picture, _ = self.document.visible()
        self._raster.fill(0)
        if picture is not None:
            painter = QPainter(self._raster)
            painter.drawImage(0, 0, _gray_image(picture.pixels))
            painter.end()
        self._paint_segments(self._raster, self.document.segments(), 1.0)
        self._redraw_view()

    def _redraw_view(self) -> None:
        side = max(1, int(min(self.width(), self.height())) - 2 * MARGIN)
        self._page = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        ratio = self.devicePixelRatioF()
        pixels = max(1, round(side * ratio))
        if self._view.width() != pixels:
            self._view = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
        self._view.setDevicePixelRatio(pixels / side)
        self._view.fill(self._paper())
        picture, _ = self.document.visible()
        if picture is not None:
            painter = QPainter(self._view)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRectF(0, 0, side, side), self._picture_in_colour(picture))
            painter.end()
        self._paint_segments(self._view, self.document.segments(), pixels / self.document.size)

    def _paint_segments(self, image: QImage, segments: list[Segment], scale: float) -> None:
        if not segments or image.isNull():
            return
        on_screen = image is self._view
        ink = self._ink() if on_screen else QColor(255, 255, 255)
        paper = self._paper() if on_screen else QColor(0, 0, 0)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # ``scale`` maps page units to device pixels; the painter itself already
        # multiplies by the image's device pixel ratio.
        scale /= image.devicePixelRatio()
        painter.scale(scale, scale)
        for seg in segments:
            pen = QPen(paper if seg.erase else ink, seg.width, Qt.PenStyle.SolidLine,
                       Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
            painter.setPen(pen)
            pts = [QPointF(x, y) for x, y in seg.points]
            if seg.kind == "dot":
                painter.drawPoint(pts[0])
            elif seg.kind == "line":
                painter.drawLine(pts[0], pts[1])
            else:
                path = QPainterPath(pts[0])
                path.quadTo(pts[1], pts[2])
                painter.drawPath(path)
        painter.end()

    def _dirty_rect(self, segments: list[Segment]) -> QRect:
        xs = [x for s in segments for x, _ in s.points]
        ys = [y for s in segments for _, y in s.points]
        pad = max(s.width for s in segments) / 2 + 2
        scale = self._page.width() / self.document.size
        left = self._page.left() + (min(xs) - pad) * scale
        top = self._page.top() + (min(ys) - pad) * scale
        right = self._page.left() + (max(xs) + pad) * scale
        bottom = self._page.top() + (max(ys) + pad) * scale
        return QRectF(left, top, right - left, bottom - top).toAlignedRect().adjusted(-1, -1, 1, 1)

    def _ink(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Text)

    def _paper(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Base)

    def _picture_in_colour(self, picture: Picture) -> QImage:
        if self._picture_view is None or self._picture_view[0] is not picture:
            image = _gray_image(picture.pixels)
            image.setColorTable(gray_table(self._paper(), self._ink()))
            self._picture_view = (picture, image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied))
        return self._picture_view[1]


# ---------------------------------------------------------------------- image files


class ImageFileError(ValueError):
    """An image file could not be read; the message names the file and the reason."""


def gray_table(paper: QColor, ink: QColor) -> list[int]:
    """A 256-entry colour table from ``paper`` (0) to ``ink`` (255)."""
    a = np.array([paper.red(), paper.green(), paper.blue()], np.float64)
    b = np.array([ink.red(), ink.green(), ink.blue()], np.float64)
    t = np.linspace(0.0, 1.0, 256)[:, None]
    rgb = np.rint(a + (b - a) * t).astype(np.uint32)
    return [int(0xFF000000 | (r << 16) | (g << 8) | bl) for r, g, bl in rgb]


def _gray_image(pixels: np.ndarray) -> QImage:
    """An Indexed8 (grey table) copy of a 2-D uint8 array, usable as a paint source."""
    pixels = np.ascontiguousarray(pixels, np.uint8)
    h, w = pixels.shape
    image = QImage(pixels.data, w, h, w, QImage.Format.Format_Indexed8).copy()
    image.setColorTable([0xFF000000 | (v << 16) | (v << 8) | v for v in range(256)])
    return image


def picture_from_image(image: QImage, size: int = PAGE) -> np.ndarray:
    """An image of a digit, either polarity, as a page: (size, size) uint8, ink bright.

    Transparent images are put on white when what is opaque is mostly dark, else on
    black. The ink is taken to be dark when the image's border is mostly light. The image
    is fitted into the page keeping its aspect ratio.
    """
    if image.isNull():
        raise ImageFileError("the image is empty")
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    arr = np.frombuffer(rgba.constBits(), np.uint8).reshape(rgba.height(), rgba.bytesPerLine())
    arr = arr[:, : rgba.width() * 4].reshape(rgba.height(), rgba.width(), 4).astype(np.float32)
    gray = arr[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    alpha = arr[..., 3] / 255.0
    if alpha.min() < 1.0:
        opaque = alpha > 0.5
        dark_ink = not opaque.any() or gray[opaque].mean() < 128
        gray = gray * alpha + (255.0 if dark_ink else 0.0) * (1.0 - alpha)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:
        gray = 255.0 - gray
    gray_u8 = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    source = _gray_image(gray_u8)
    scaled = source.convertToFormat(QImage.Format.Format_Grayscale8).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    page = QImage(size, size, QImage.Format.Format_Grayscale8)
    page.fill(0)
    painter = QPainter(page)
    painter.drawImage((size - scaled.width()) // 2, (size - scaled.height()) // 2, scaled)
    painter.end()
    rows = np.frombuffer(page.constBits(), np.uint8).reshape(size, page.bytesPerLine())
    return rows[:, :size].copy()


def picture_from_file(path: str, size: int = PAGE) -> np.ndarray:
    """Read a PNG, JPEG or BMP (anything Qt reads) as a page; raises ImageFileError."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    image = reader.read()
    if image.isNull():
        raise ImageFileError(f"{path}: cannot read the image ({reader.errorString()})")
    return picture_from_image(image, size)


def save_png(image: QImage, path: str) -> None:
    """Write ``image`` as PNG atomically (QSaveFile); raises OSError naming the file."""
    out = QSaveFile(str(path))
    if not out.open(QSaveFile.OpenModeFlag.WriteOnly):
        raise OSError(f"{path}: cannot write ({out.errorString()})")
    if not image.save(out, "PNG"):
        out.cancelWriting()
        raise OSError(f"{path}: could not encode the PNG")
    if not out.commit():
        raise OSError(f"{path}: cannot write ({out.errorString()})")
