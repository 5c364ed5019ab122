"""Small widgets that display results: 28x28 images, and the panel that puts the model's
input next to its reconstruction. They hold what they show and nothing else."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QFontMetricsF, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QWidget

from aegui import native
from aegui.preprocess import to_uint8

from .canvas import gray_table
from .contrast import muted

__all__ = ["HintLabel", "ImageView", "NetworkPanel", "TextLine", "hint_label", "row"]

# What the compiled colouring takes (aegui.native's colour_image); anything else goes through numpy.
_COLOURED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class HintLabel(QLabel):
    """A line of help under a panel, wrapped, quieter than the text around it but readable:
    its colour is the window text moved towards the window colour as far as keeps 5:1
    contrast (``aegui.gui.contrast``), worked out again when the palette changes."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self._restyle()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ParentChange:
            self._restyle()
        return super().event(event)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._restyle()

    def _restyle(self) -> None:
        # From the surroundings' palette: this label's own text colour is the one set here.
        source = self.parentWidget().palette() if self.parentWidget() is not None else QApplication.palette(self)
        text, window = source.color(QPalette.ColorRole.WindowText), source.color(QPalette.ColorRole.Window)
        colour = QColor(*muted(text.getRgb(), window.getRgb()))
        palette = self.palette()
        if palette.color(QPalette.ColorRole.WindowText) != colour:     # else no new PaletteChange, no loop
            palette.setColor(QPalette.ColorRole.WindowText, colour)
            self.setPalette(palette)


def hint_label(text: str) -> QLabel:
    """A line of help under a panel (``HintLabel``)."""
    return HintLabel(text)


def row(*items) -> QHBoxLayout:
    """Widgets side by side; a number among them is a stretch of that factor."""
    layout = QHBoxLayout()
    for item in items:
        if isinstance(item, int):
            layout.addStretch(item)
        else:
            layout.addWidget(item)
    return layout


class TextLine(QWidget):
    """One line of text that changes often (an error, a latency, a verdict).

    Unlike a QLabel, setting new text only repaints it: its size hint is fixed by a
    ``template`` string, so the layouts around it are never recomputed, which would
    otherwise happen on every mouse move (and animate every dock of the main window).
    """

    def __init__(self, text: str = "", template: str = "", parent: QWidget | None = None,
                 alignment: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignCenter):
        super().__init__(parent)
        self._text = text
        self._template = template or text
        self._alignment = alignment
        self._fitted = (None, None)       # (text, width, font) -> what fitted() gave for them
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.setToolTip(text if self.fontMetrics().horizontalAdvance(text) > self.width() else "")
            self.update()

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance(self._template) + 8, metrics.height() + 6)

    def minimumSizeHint(self) -> QSize:
        return QSize(20, self.fontMetrics().height() + 6)

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.FontChange:
            self.updateGeometry()
        super().changeEvent(event)

    # A text a little too wide is drawn smaller, down to this share of the font's size,
    # before it is cut short: a verdict with its neighbours ("Looks like a 2 (100% sure) ·
    # neighbours: 10 of 10 are 2s") then reads whole at the window's default size.
    SMALLEST = 0.8

    def fitted(self) -> tuple[QFont, str]:
        """The font and the text that ``paintEvent`` draws in the widget's width (kept
        until the text, the width or the font changes: it is asked on every repaint)."""
        key = (self._text, self.rect().width(), self.font().key())
        if self._fitted[0] != key:
            self._fitted = (key, self._fit(self.rect().width() - 8))
        return self._fitted[1]

    def _fit(self, width: int) -> tuple[QFont, str]:
        font = QFont(self.font())
        size = font.pointSizeF()
        scale = 1.0
        # Glyphs do not scale exactly with the size (hinting): step down until it fits.
        while size > 0 and width > 0 and scale > self.SMALLEST \
                and QFontMetricsF(font).horizontalAdvance(self._text) > width:
            scale = max(self.SMALLEST, scale - 0.02)
            font.setPointSizeF(size * scale)
        return font, QFontMetrics(font).elidedText(self._text, Qt.TextElideMode.ElideRight, width)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        font, text = self.fitted()
        painter.setFont(font)
        painter.drawText(self.rect().adjusted(4, 0, -4, 0), self._alignment | Qt.AlignmentFlag.AlignVCenter, text)
        painter.end()


class ImageView(QWidget):
    """A small grey image (28x28 in [0, 1]) enlarged with square pixels, in the palette's
    ink and paper colours. ``painted(seq)`` fires each time it is painted, with the
    sequence number of the image on screen (the app benchmark listens to it)."""

    painted = Signal(int)

    def __init__(self, name: str = "", parent: QWidget | None = None, minimum: int = 84):
        super().__init__(parent)
        if name:
            self.setObjectName(name)
        self.seq = 0
        self._pixels = np.zeros((28, 28), np.uint8)
        self._rgb = np.zeros((28, 28), np.uint32)     # what is painted: the pixels in colour
        self._image = QImage()
        self._minimum = minimum
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._restyle()
        self._place()

    def set_image(self, image, seq: int = 0) -> None:
        """Show ``image`` (2-D, values in [0, 1]); ``seq`` says which request it answers."""
        colour = native.kernel("colour_image")
        if (colour is not None and type(image) is np.ndarray and image.ndim == 2
                and image.dtype in _COLOURED_DTYPES and image.flags.c_contiguous):
            # A drawing's frame and reconstruction, twice per stroke event: quantised and
            # coloured in one call, into the arrays the image reads (same bytes as below).
            self._fit_to(image.shape)
            colour(image, self._colours, self._pixels, self._rgb)
        else:
            self._pixels = np.ascontiguousarray(to_uint8(image))
            self._recolour()
        self.seq = seq
        self.update(self._image_area)      # the margins stay as they are

    def pixels(self) -> np.ndarray:
        """What is shown, as uint8 (a copy)."""
        return self._pixels.copy()

    def sizeHint(self) -> QSize:
        return QSize(168, 168)

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._restyle()
            self.update()
        super().changeEvent(event)

    def resizeEvent(self, event) -> None:
        self._place()
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:
        # Followed at the pen's pace: everything but the image is worked out beforehand.
        painter = QPainter(self)
        if not self._image_area.contains(event.rect()):
            for margin in self._margins:   # the image covers the rest: its pixels are written once
                painter.fillRect(margin, self._background)
        painter.drawImage(self._target, self._image)   # no smoothing: square pixels
        painter.setPen(self._frame_pen)
        painter.drawRect(self._frame)
        painter.end()
        self.painted.emit(self.seq)

    def _place(self) -> None:
        side = min(self.width(), self.height()) - 2
        self._target = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        self._frame = self._target.adjusted(-0.5, -0.5, 0.5, 0.5)
        # What a new image repaints: the image and its frame (a pixel more for the pen's reach).
        self._image_area = self._frame.toAlignedRect().adjusted(-1, -1, 1, 1)
        # Whole pixels inside the image's rectangle are left to the image: four strips around it.
        left, top = math.ceil(self._target.left()), math.ceil(self._target.top())
        right, bottom = math.floor(self._target.right()), math.floor(self._target.bottom())
        w, h = self.width(), self.height()
        strips = [QRect(0, 0, w, top), QRect(0, bottom, w, h - bottom), QRect(0, top, left, bottom - top),
                  QRect(right, top, w - right, bottom - top)]
        self._margins = [strip for strip in strips if strip.isValid() and not strip.isEmpty()]

    def _restyle(self) -> None:
        palette = self.palette()
        self._colours = np.array(gray_table(palette.color(QPalette.ColorRole.Base),
                                            palette.color(QPalette.ColorRole.Text)), np.uint32)
        self._background = palette.color(QPalette.ColorRole.Window)
        self._frame_pen = QPen(palette.color(QPalette.ColorRole.Mid), 1)
        self._frame_pen.setCosmetic(True)
        self._recolour()

    def _recolour(self) -> None:
        self._fit_to(self._pixels.shape)
        self._colours.take(self._pixels, out=self._rgb)

    def _fit_to(self, shape: tuple[int, ...]) -> None:
        """Arrays of ``shape`` for the pixels and their colours, and the image on the colours."""
        if self._rgb.shape != shape or self._image.isNull():
            if self._pixels.shape != shape:
                self._pixels = np.zeros(shape, np.uint8)
            self._rgb = np.zeros(shape, np.uint32)
            h, w = shape
            # RGB32 scales on the fast path when painted; the image reads ``_rgb`` in place.
            self._image = QImage(self._rgb.data, w, h, w * 4, QImage.Format.Format_RGB32)


class NetworkPanel(QWidget):
    """What the network sees (``modelInput``) beside what it gives back
    (``reconstruction``), with the reconstruction error of the drawing."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_input = ImageView("modelInput")
        self.model_input.setToolTip("The drawing framed like MNIST: 20x20 box, centred by mass, 28x28")
        self.reconstruction = ImageView("reconstruction")
        self.reconstruction.setToolTip("The model's reconstruction: decode(encode(input))")
        self.input_caption = QLabel("Model input, 28×28")
        self.output_caption = TextLine("Reconstruction", "Edited code, decoded")
        self.typical_error: float | None = None
        self.error_label = TextLine("Draw a digit", "Error (MSE) 0.0000 · test digits 0.0000")
        self.error_label.setObjectName("errorLabel")
        self.input_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for caption in (self.input_caption, self.output_caption):
            # Captions must not make one column wider than the other.
            caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.addWidget(self.input_caption, 0, 0)
        grid.addWidget(self.output_caption, 0, 1)
        grid.addWidget(self.model_input, 1, 0)
        grid.addWidget(self.reconstruction, 1, 1)
        grid.addWidget(self.error_label, 2, 0, 1, 2)
        grid.setRowStretch(1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

    def set_error(self, error: float | None, edited: bool = False) -> None:
        """The drawing's reconstruction error (per pixel), next to the model's mean on
        MNIST test digits when known; ``edited``: an edited code is shown."""
        self.output_caption.setText("Edited code, decoded" if edited else "Reconstruction")
        if error is None:
            self.error_label.setText("Draw a digit")
        elif edited:
            self.error_label.setText(f"Drawing's error (MSE) {error:.4f}")
        elif self.typical_error is None:
            self.error_label.setText(f"Error (MSE) {error:.4f}")
        else:
            self.error_label.setText(f"Error (MSE) {error:.4f} · test digits {self.typical_error:.4f}")
