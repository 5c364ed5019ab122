"""``ImageGrid``: a grid of small grey images painted as one, with row and column labels.

The latent traversal (a row per dimension), the manifold grid and fine-tuning's before and
after comparison all show many 28x28 decodings at once. One widget painting them all from
a single mosaic image stays fast where a widget per image would not, and reports which
cell the pointer is over or clicks. Like ``ImageView`` it paints in the palette's ink and
paper colours, so it follows a light or dark theme, and it holds only what it shows.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from aegui.preprocess import to_uint8

from .canvas import gray_table

__all__ = ["ImageGrid"]

SIDE = 28
HIGHLIGHT_COLOUR = "#f28e2b"   # the edited-bar colour of the latent bars


class ImageGrid(QWidget):
    """Images (rows, columns, 28, 28) in [0, 1]; ``cellHovered(row, col)`` as the pointer
    moves ((-1, -1) once it leaves a cell), ``cellClicked(row, col)`` on a left click."""

    cellHovered = Signal(int, int)
    cellClicked = Signal(int, int)

    def __init__(self, name: str = "", parent: QWidget | None = None, min_cell: int = 14,
                 preferred_cell: int = 36, max_cell: int | None = None, gap: int = 2):
        super().__init__(parent)
        if name:
            self.setObjectName(name)
        self.min_cell, self.preferred_cell, self.max_cell, self.gap = min_cell, preferred_cell, max_cell, gap
        self._pixels = np.zeros((0, 0, SIDE, SIDE), np.uint8)
        self.row_labels: list[str] = []
        self.column_labels: list[str] = []
        self.highlight_row: int | None = None
        self.highlight_cell: tuple[int, int] | None = None
        self.hovered: tuple[int, int] = (-1, -1)
        self._mosaic = QImage()
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # ------------------------------------------------------------------ content

    @property
    def shape(self) -> tuple[int, int]:
        return self._pixels.shape[:2]

    def set_images(self, images, row_labels=None, column_labels=None) -> None:
        """Show ``images`` (R, C, 28, 28); labels: R and C strings, or None for none."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[2:] != (SIDE, SIDE):
            raise ValueError(f"expected images (rows, columns, 28, 28), got {images.shape}")
        reshaped = images.shape[:2] != self._pixels.shape[:2]
        self._pixels = np.ascontiguousarray(to_uint8(images))
        self.row_labels = list(row_labels or [])
        self.column_labels = list(column_labels or [])
        if reshaped:
            self.highlight_row, self.highlight_cell = None, None
            self.updateGeometry()
        self._mosaic = self._build_mosaic()
        self.update()

    def pixels(self) -> np.ndarray:
        """What is shown, (R, C, 28, 28) uint8 (a copy)."""
        return self._pixels.copy()

    def set_highlight(self, row: int | None = None, cell: tuple[int, int] | None = None) -> None:
        """Tint a row and/or outline a cell (None: neither)."""
        if (row, cell) != (self.highlight_row, self.highlight_cell):
            self.highlight_row, self.highlight_cell = row, cell
            self.update()

    # ------------------------------------------------------------------ geometry

    def _label_width(self) -> int:
        metrics = self.fontMetrics()
        return max((metrics.horizontalAdvance(t) for t in self.row_labels), default=-6) + 6

    def _header_height(self) -> int:
        return self.fontMetrics().height() + 2 if any(self.column_labels) else 0

    def _header_pitch(self) -> float:
        """The least distance between columns' centres that keeps their labels apart."""
        metrics, need = self.fontMetrics(), 0.0
        labelled = [(i, metrics.horizontalAdvance(t)) for i, t in enumerate(self.column_labels) if t]
        for (i, a), (j, b) in zip(labelled, labelled[1:]):
            need = max(need, ((a + b) / 2 + 8) / (j - i))
        return need

    def _column_gap(self, cell: float) -> float:
        return max(float(self.gap), self._header_pitch() - cell)

    def _across(self, width: float, cols: int) -> float:
        """The largest cell for which ``cols`` columns, their gaps included, fit ``width``."""
        cell = (width - self.gap * (cols - 1)) / cols
        if self._column_gap(cell) > self.gap:          # the labels set the pitch, not the gap
            cell = width - (cols - 1) * self._header_pitch()
        return cell

    def _cell(self) -> float:
        rows, cols = self.shape
        if not rows or not cols:
            return float(self.preferred_cell)
        across = self._across(self.width() - self._label_width() - self._overhang(self.min_cell), cols)
        down = (self.height() - self._header_height() - self.gap * (rows - 1)) / rows
        cell = min(across, down) if self.max_cell is None else min(across, down, self.max_cell)
        return max(float(self.min_cell), cell)

    def cell_rect(self, row: int, col: int) -> QRectF:
        """Where a cell is painted, in widget coordinates."""
        cell = self._cell()
        rows, cols = self.shape
        gap = self._column_gap(cell)
        left = self._label_width()
        spare = self.width() - left - cols * cell - (cols - 1) * gap
        left += max(spare, 0) / 2     # centred in what the labels leave
        top = self._header_height()
        return QRectF(left + col * (cell + gap), top + row * (cell + self.gap), cell, cell)

    def header_rect(self, col: int) -> QRectF:
        """Where column ``col``'s label is painted: centred over it, no wider than the pitch."""
        cell = self.cell_rect(0, col)
        pitch = cell.width() + self._column_gap(cell.width())
        width = min(self.fontMetrics().horizontalAdvance(self.column_labels[col]) + 4, pitch)
        left = min(max(cell.center().x() - width / 2, 0.0), self.width() - width)   # inside the widget
        return QRectF(left, 0, width, self._header_height())

    def _overhang(self, cell: float) -> float:
        """How far the last column's label reaches past its cell."""
        labels = self.column_labels[: self.shape[1]]
        last = self.fontMetrics().horizontalAdvance(labels[-1]) + 4 if labels and labels[-1] else 0
        return max(0.0, (last - cell) / 2)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        rows, cols = self.shape
        for row in range(rows):
            if not self.cell_rect(row, 0).top() <= pos.y() < self.cell_rect(row, 0).bottom():
                continue
            for col in range(cols):
                if self.cell_rect(row, col).contains(pos):
                    return row, col
        return None

    def sizeHint(self) -> QSize:
        return self._size_for(self.preferred_cell)

    def minimumSizeHint(self) -> QSize:
        return self._size_for(self.min_cell)

    def _size_for(self, cell: int) -> QSize:
        rows, cols = self.shape
        rows, cols = max(rows, 1), max(cols, 1)
        return QSize(round(self._label_width() + cols * cell + (cols - 1) * self._column_gap(cell)
                           + self._overhang(cell)),
                     self._header_height() + rows * cell + (rows - 1) * self.gap)

    # ------------------------------------------------------------------ events

    def mouseMoveEvent(self, event) -> None:
        self._hover(self.cell_at(event.position()) or (-1, -1))
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        self._hover((-1, -1))
        super().leaveEvent(event)

    def hideEvent(self, event) -> None:
        # Hidden under the pointer (its tab put behind another): no leave event comes.
        self._hover((-1, -1))
        super().hideEvent(event)

    def mousePressEvent(self, event) -> None:
        hit = self.cell_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and hit is not None:
            self.cellClicked.emit(*hit)
            event.accept()
            return
        super().mousePressEvent(event)

    def _hover(self, cell: tuple[int, int]) -> None:
        if cell != self.hovered:
            self.hovered = cell
            self.cellHovered.emit(*cell)

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._mosaic = self._build_mosaic()
            self.update()
        elif event.type() == QEvent.Type.FontChange:
            self.updateGeometry()
        super().changeEvent(event)

    # ------------------------------------------------------------------ painting

    def _build_mosaic(self) -> QImage:
        rows, cols = self.shape
        if not rows or not cols:
            return QImage()
        mosaic = np.ascontiguousarray(self._pixels.transpose(0, 2, 1, 3).reshape(rows * SIDE, cols * SIDE))
        h, w = mosaic.shape
        image = QImage(mosaic.data, w, h, w, QImage.Format.Format_Indexed8)
        palette = self.palette()
        image.setColorTable(gray_table(palette.color(QPalette.ColorRole.Base),
                                       palette.color(QPalette.ColorRole.Text)))
        return image.convertToFormat(QImage.Format.Format_RGB32)   # also copies the pixels

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Window))
        rows, cols = self.shape
        if self._mosaic.isNull():
            painter.end()
            return
        if self.highlight_row is not None and 0 <= self.highlight_row < rows:
            band = self.cell_rect(self.highlight_row, 0).united(self.cell_rect(self.highlight_row, cols - 1))
            band.setLeft(0)
            tint = QColor(palette.color(QPalette.ColorRole.Highlight))
            tint.setAlpha(110)
            painter.fillRect(band.adjusted(0, -self.gap / 2, 0, self.gap / 2), tint)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        for row in range(rows):
            first = self.cell_rect(row, 0)
            if row < len(self.row_labels):
                painter.drawText(QRectF(0, first.top(), first.left() - 4, first.height()),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.row_labels[row])
            for col in range(cols):
                painter.drawImage(self.cell_rect(row, col), self._mosaic,
                                  QRectF(col * SIDE, row * SIDE, SIDE, SIDE))
        for col, text in enumerate(self.column_labels[:cols]):
            if text:
                painter.drawText(self.header_rect(col), Qt.AlignmentFlag.AlignCenter, text)
        if self.highlight_cell is not None and 0 <= self.highlight_cell[0] < rows and 0 <= self.highlight_cell[1] < cols:
            pen = QPen(QColor(HIGHLIGHT_COLOUR), 2)
            painter.setPen(pen)
            painter.drawRect(self.cell_rect(*self.highlight_cell).adjusted(-1, -1, 1, 1))
        painter.end()
