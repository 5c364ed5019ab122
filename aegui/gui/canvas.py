"""The drawing canvas: shows a ``DrawingDocument`` and forwards pointer events to it.

The document holds the drawing and its page raster (what the network gets); the widget
keeps only its *view*, the pointer's outline (a circle of the pen's real width where the
next stroke would go, dashed for the eraser) and a first-run hint on the empty page: the same strokes rasterised by the same renderer
(``aegui.raster``) at the widget's device pixels, so it is crisp on high-DPI screens,
and coloured with the palette (ink in the text colour on the base colour), so it follows
a light or dark theme. The view is an 8-bit ink image plus its colours: new segments
are painted into the ink and only their box is recoloured and repainted, so a mouse
move costs a few thousand pixels, not the page. Helpers at the end read an image file
onto the page and write the raster.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPalette, QPen, QPointingDevice
from PySide6.QtWidgets import QSizePolicy, QWidget

from aegui import native
from aegui.document import PAGE, DrawingDocument, Segment
from aegui.paper import ink_from_picture
from aegui.prefix_cache import PrefixCache, repaint
from aegui.raster import paint_segments

__all__ = ["Canvas", "ImageFileError", "gray_table", "paper_and_ink", "picture_from_file", "picture_from_image"]

MARGIN = 8  # logical pixels between the widget's edge and the page
RING_PAD = 2  # logical pixels around the outline's circle in its kept image (the pen's width)
HINT = "Draw a digit here"


class Canvas(QWidget):
    """Draw with mouse or tablet; ``drawingChanged`` fires after every change of the raster."""

    drawingChanged = Signal()

    def __init__(self, document: DrawingDocument | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("canvas")
        self.document = document or DrawingDocument()
        self._pen_width = 32.0    # page units; MNIST-like strokes are 5-8 % of the page
        self._eraser = False
        self._pointer: QPointF | None = None     # where the pointer is over the widget, if it is
        self.hint = ""            # painted on an empty page (``set_hint``)
        self._was_empty = True
        self._ink = np.zeros((1, 1), np.uint8)      # the view's ink, device pixels
        self._colours = np.zeros(256, np.uint32)    # ink level -> 0xAARRGGBB
        self._rgb = np.zeros((1, 1), np.uint32)     # the view in colour, what is painted
        self._view = QImage()                       # wraps self._rgb
        self._page = QRectF()     # where the page lies in the widget, logical pixels
        self._view_ratio = 1.0    # the device pixel ratio the view is drawn at
        self._prefixes = PrefixCache()    # the view before recent strokes: undo repaints from there
        self._ring_key, self._ring_image = None, QImage()     # the outline, drawn once per size (``_ring``)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMouseTracking(True)     # the outline follows the pointer with no button held
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)
        self.setToolTip("Draw a digit (left button or pen). Undo: Ctrl+Z")
        self.document.observe(self._document_changed)
        self._redraw_view()

    # ------------------------------------------------------------------ the tool

    @property
    def pen_width(self) -> float:
        """The pen's width in page units; the outline shows it."""
        return self._pen_width

    @pen_width.setter
    def pen_width(self, width: float) -> None:
        old = self.outline_rect()
        self._pen_width = float(width)
        self._update_outline(old)

    @property
    def eraser(self) -> bool:
        return self._eraser

    @eraser.setter
    def eraser(self, on: bool) -> None:
        self._eraser = bool(on)
        self._update_outline(self.outline_rect())

    def outline_rect(self) -> QRectF:
        """Where the pointer's outline is painted (empty when it is not over the page)."""
        if self._pointer is None or not self._page.contains(self._pointer):
            return QRectF()
        diameter = self._pen_width * self._page.width() / self.document.size
        return QRectF(self._pointer.x() - diameter / 2, self._pointer.y() - diameter / 2, diameter, diameter)

    def set_hint(self, text: str) -> None:
        """A line painted in the middle of the page while nothing is drawn ("" for none)."""
        self.hint = text
        self._was_empty = self.document.is_empty()
        self.update()

    def _update_outline(self, old: QRectF) -> None:
        # One rectangle around where the outline was and is: a few pixels apart per move.
        rect = old.united(self.outline_rect())
        if not rect.isEmpty():
            self.update(rect.toAlignedRect().adjusted(-3, -3, 3, 3))

    def _point_at(self, pos: QPointF | None) -> None:
        old = self.outline_rect()
        self._pointer = QPointF(pos) if pos is not None else None
        self._update_outline(old)

    # ------------------------------------------------------------------ reading

    def raster(self) -> np.ndarray:
        """The drawing as the network gets it: (PAGE, PAGE) uint8, ink bright (a copy)."""
        return self.document.raster()

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
        position = event.position()          # a new QPointF at every call: asked once
        self._point_at(position)
        if self.document.in_stroke and event.buttons() & Qt.MouseButton.LeftButton:
            self.document.extend_stroke(*self.to_page(position))
            event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.document.end_stroke()
            event.accept()

    def tabletEvent(self, event) -> None:
        self._point_at(event.position())
        x, y = self.to_page(event.position())
        pressure = event.pressure()
        kind = event.type()
        if kind == QEvent.Type.TabletPress:
            erase = self.eraser or event.pointerType() == QPointingDevice.PointerType.Eraser
            self.document.begin_stroke(x, y, self.pen_width, pressure, erase=erase)
        elif kind == QEvent.Type.TabletMove and self.document.in_stroke:
            self.document.extend_stroke(x, y, pressure)
        elif kind == QEvent.Type.TabletRelease:
            self.document.end_stroke()
        # Accepted tablet events are not repeated as synthesised mouse events.
        event.accept()

    def leaveEvent(self, event) -> None:
        self._point_at(None)
        super().leaveEvent(event)

    def resizeEvent(self, event) -> None:
        self._redraw_view()
        super().resizeEvent(event)

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange,
                            QEvent.Type.StyleChange):
            self._redraw_view()
            self.update()
        super().changeEvent(event)

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event) -> None:
        # Moved to a screen of another pixel ratio: the view is drawn again at the new
        # density. (Asked here, not in an event() override: that would put a Python call
        # in front of every event the canvas gets, each mouse move's included.)
        if self.devicePixelRatioF() != self._view_ratio:
            self._redraw_view()
            self.update()
        painter = QPainter(self)
        if not self._page.contains(QRectF(event.rect())):     # the page covers the rest
            painter.fillRect(event.rect(), self._background)
        painter.drawImage(self._page.topLeft(), self._view)
        painter.setPen(self._frame_pen)
        painter.drawRect(self._frame)
        if self.hint and self.document.is_empty():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            font = painter.font()
            font.setPointSizeF(font.pointSizeF() * 1.6)
            painter.setFont(font)
            painter.drawText(self._page, Qt.AlignmentFlag.AlignCenter, self.hint)
        self._paint_outline(painter)
        painter.end()

    def _paint_outline(self, painter: QPainter) -> None:
        """The pen's real width around the pointer (``_ring``), where it is."""
        rect = self.outline_rect()
        if not rect.isEmpty():
            ring = self._ring(rect.width())
            painter.drawImage(rect.topLeft() - QPointF(RING_PAD, RING_PAD), ring)

    def _ring(self, diameter: float) -> QImage:
        """The outline: a dark and a light ring, seen on any ink or paper; dashed for the
        eraser. Drawn once per size and tool and kept: stroking two anti-aliased ellipses
        cost more than everything else the canvas paints per mouse move."""
        ratio = self.devicePixelRatioF()
        key = (round(diameter, 3), self._eraser, ratio)
        if self._ring_key != key:
            side = diameter + 2 * RING_PAD
            pixels = max(1, math.ceil(side * ratio))
            image = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
            image.setDevicePixelRatio(ratio)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            style = Qt.PenStyle.DashLine if self._eraser else Qt.PenStyle.SolidLine
            rect = QRectF(RING_PAD, RING_PAD, diameter, diameter)
            for colour, inset in ((QColor(0, 0, 0, 170), 0.0), (QColor(255, 255, 255, 170), 1.0)):
                pen = QPen(colour, 1.0, style)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.drawEllipse(rect.adjusted(inset, inset, -inset, -inset))
            painter.end()
            self._ring_key, self._ring_image = key, image
        return self._ring_image

    def _document_changed(self, segments: list[Segment] | None) -> None:
        if self.hint:        # the hint shows on an empty page only: repaint it all when that changes
            empty = self.document.is_empty()
            if empty != self._was_empty:
                self._was_empty = empty
                segments = None
        if segments is None:
            self._redraw_view()
            self.update()
        else:
            self._keep_view()
            box = paint_segments(self._ink, segments, self._ink.shape[0] / self.document.size)
            if box is not None:
                self._recolour(box)
                self.update(self._widget_rect(box))
        self.drawingChanged.emit()

    def _redraw_view(self) -> None:
        """Lay the page out in the widget and paint the whole view from the document."""
        side = max(1, int(min(self.width(), self.height())) - 2 * MARGIN)
        self._page = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        self._view_ratio = self.devicePixelRatioF()
        pixels = max(1, round(side * self._view_ratio))
        if self._ink.shape[0] != pixels:
            self._ink = np.zeros((pixels, pixels), np.uint8)
            self._rgb = np.zeros((pixels, pixels), np.uint32)
            self._view = QImage(self._rgb.data, pixels, pixels, pixels * 4, QImage.Format.Format_RGB32)
        self._view.setDevicePixelRatio(pixels / side)
        picture, strokes = self.document.visible()
        repaint(self._ink, (pixels, picture), lambda: _resized(picture.pixels, pixels) if picture is not None else None,
                strokes, pixels / self.document.size, self._prefixes)
        self._colours = np.array(gray_table(self._paper(), self._ink_colour()), np.uint32)
        self._recolour((0, 0, pixels, pixels))
        # What every paint needs besides the view, worked out here (a resize or a new
        # palette comes through here), not at the pen's pace.
        self._background = self.palette().color(QPalette.ColorRole.Window)
        self._frame_pen = QPen(self.palette().color(QPalette.ColorRole.Mid), 1)
        self._frame_pen.setCosmetic(True)
        self._frame = self._page.adjusted(-0.5, -0.5, 0.5, 0.5)

    def _keep_view(self) -> None:
        """A stroke has just begun and is not painted yet: keep the view as it is, before
        it (undoing it comes back here)."""
        if self.document.stroke_points == 1:        # cheap: this runs on every move
            picture, strokes = self.document.visible()
            self._prefixes.store((self._ink.shape[0], picture), strokes[:-1], self._ink)

    def _recolour(self, box: tuple[int, int, int, int]) -> None:
        colour = native.kernel("colour_box")      # once per stroke event: one call, not numpy's few
        if colour is not None:
            colour(self._ink, self._colours, self._rgb, box)
        else:
            x0, y0, x1, y1 = box
            self._colours.take(self._ink[y0:y1, x0:x1], out=self._rgb[y0:y1, x0:x1])

    def _widget_rect(self, box: tuple[int, int, int, int]) -> QRect:
        """View pixels (x0, y0, x1, y1) -> the widget rectangle that shows them."""
        x0, y0, x1, y1 = box
        scale = self._page.width() / self._ink.shape[0]
        left, top = self._page.left() + x0 * scale, self._page.top() + y0 * scale
        rect = QRectF(left, top, (x1 - x0) * scale, (y1 - y0) * scale)
        return rect.toAlignedRect().adjusted(-1, -1, 1, 1)

    def _ink_colour(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Text)

    def _paper(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Base)


def _resized(pixels: np.ndarray, size: int) -> np.ndarray:
    """A square grey image smoothly resized to ``size`` x ``size`` (for the view only)."""
    if pixels.shape[0] == size:
        return pixels
    image = _gray_image(pixels).convertToFormat(QImage.Format.Format_Grayscale8).scaled(
        size, size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(size, image.bytesPerLine())
    return rows[:, :size].copy()


# ---------------------------------------------------------------------- image files


class ImageFileError(ValueError):
    """An image file could not be read; the message names the file and the reason."""


def paper_and_ink(widget: QWidget) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The (paper, ink) colours ``widget`` shows drawings in, as RGB: what exports use, so
    that a file looks like the screen."""
    palette = widget.palette()
    paper, ink = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text)
    return (paper.red(), paper.green(), paper.blue()), (ink.red(), ink.green(), ink.blue())


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
    black. The paper's level and the ink's side are estimated (``aegui.paper``: a photo of
    grey paper reads as its strokes). The image is fitted into the page keeping its
    aspect ratio.
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
    gray_u8 = ink_from_picture(np.clip(np.rint(gray), 0, 255).astype(np.uint8))
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
