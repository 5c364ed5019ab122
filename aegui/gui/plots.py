"""The two pyqtgraph views of the latent code: the bar chart of z (here) and the latent
map (``map_view``), with what they share: digit colours, the palette-aware plot base.

Both are built once per model and then updated in place (``setOpts``/``setData``), as
pyqtgraph's own examples do, so that following the pen costs a few hundred microseconds.
The bars' range is fixed per model and only ever grows, so nothing jumps while drawing.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette

from .latent import nice_limit

__all__ = ["DIGIT_COLOURS", "EDITED_COLOUR", "LatentBars"]

pg.setConfigOptions(antialias=True, useNumba=False)

# Tableau 10: distinguishable, and legible on light and dark backgrounds.
DIGIT_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
# Edited codes (bars, the ring on the map): magenta, a colour that is no digit's.
EDITED_COLOUR = "#d000d0"
_PALETTE_EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)


def _style_plot(widget: pg.PlotWidget, palette: QPalette) -> None:
    """Colours of a plot from the Qt palette, so it follows a light or dark theme."""
    text = palette.color(QPalette.ColorRole.Text)
    widget.setBackground(palette.color(QPalette.ColorRole.Base))
    plot = widget.getPlotItem()
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
        axis.setTextPen(pg.mkPen(text))


class _PalettePlot(pg.PlotWidget):
    """A plot that restyles itself (``_restyle``) when the palette changes."""

    _built = False

    def changeEvent(self, event) -> None:
        # Qt sends palette changes from within the base class constructor, too early.
        if event.type() in _PALETTE_EVENTS and self._built:
            self._restyle()
        super().changeEvent(event)

    def _restyle(self) -> None:
        raise NotImplementedError


class _BarsViewBox(pg.ViewBox):
    """A view box where dragging a bar sets its value instead of panning."""

    barDragged = Signal(int, float)
    barClicked = Signal(int)

    def __init__(self):
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=False, y=False)
        self.count = 0
        self._dragging: int | None = None

    def index_at(self, x: float) -> int | None:
        i = int(round(x))
        return i if 0 <= i < self.count else None

    def mouseDragEvent(self, ev, axis=None) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self._dragging = self.index_at(self.mapToView(ev.buttonDownPos()).x())
        if self._dragging is not None:
            self.barDragged.emit(self._dragging, float(self.mapToView(ev.pos()).y()))
        if ev.isFinish():
            self._dragging = None

    def mouseClickEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        i = self.index_at(self.mapToView(ev.pos()).x())
        if i is not None:
            self.barClicked.emit(i)


class LatentBars(_PalettePlot):
    """z as bars. Hover shows a value (``hover_text``: the value shown now of the bar under
    the pointer, "" when the pointer is not over a bar); dragging a bar edits it
    (``valueEdited``); ``set_highlight`` marks one dimension (the traversal row under the
    pointer)."""

    valueEdited = Signal(int, float)
    dimensionSelected = Signal(int)

    def __init__(self, parent=None):
        self._box = _BarsViewBox()
        super().__init__(parent, viewBox=self._box)
        self.setObjectName("latentBars")
        plot = self.getPlotItem()
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.showGrid(y=True, alpha=0.2)
        self.limit = 1.0
        self.values = np.zeros(0, np.float32)
        self._unpainted = None      # (values, edited, drawing) set while the bars did not show
        self.hover_text = ""
        self.hovered: int | None = None     # the bar under the pointer
        self.highlighted: int | None = None
        # A full-height band behind one bar; hidden unless a dimension is highlighted.
        self._band = pg.BarGraphItem(x=[0], y0=[-1], height=[2], width=0.96, pen=pg.mkPen(None))
        self._band.setVisible(False)
        self.addItem(self._band)
        # Each dimension's usual range (``set_usual_range``): a pale box behind its bar.
        self._usual = pg.BarGraphItem(x=[], y0=[], height=[], width=0.9, pen=pg.mkPen(None))
        self._usual.setVisible(False)
        self.addItem(self._usual)
        self.usual: tuple[np.ndarray, np.ndarray] | None = None
        self._ghost = pg.BarGraphItem(x=[], height=[], width=0.72, brush=None,
                                      pen=pg.mkPen("#888888", width=1, style=Qt.PenStyle.DashLine))
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.72)
        self.addItem(self._ghost)
        self.addItem(self._bars)
        self._hover = pg.TextItem(anchor=(0.5, 0.0))
        self.addItem(self._hover, ignoreBounds=True)
        self._box.barDragged.connect(self.valueEdited)
        self._box.barClicked.connect(self.dimensionSelected)
        self.setMinimumHeight(120)
        self._restyle()
        self._built = True

    def set_dimensions(self, count: int, limit: float) -> None:
        """A new model: ``count`` bars, y range +-``limit`` (grows later if need be)."""
        self._box.count = count
        self.values = np.zeros(count, np.float32)
        self._unpainted = None
        self.limit = nice_limit(limit)
        x = np.arange(count)
        self._bars.setOpts(x=x, height=self.values, brushes=None)
        self._ghost.setOpts(x=x, height=self.values)
        self._ghost.setVisible(False)
        self.setXRange(-0.6, count - 0.4, padding=0)
        self._set_limit(self.limit)
        step = 1 if count <= 20 else 2 if count <= 40 else 8
        self.getPlotItem().getAxis("bottom").setTicks([[(i, str(i)) for i in range(0, count, step)]])
        self._set_hovered(None)
        self.set_highlight(None)
        self.set_usual_range(None)

    def set_usual_range(self, usual: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Show each dimension's usual range (low, high), (Z,) each, behind its bar (None: none)."""
        self.usual = usual
        if usual is None:
            self._usual.setVisible(False)
            return
        low, high = (np.asarray(v, np.float32) for v in usual)
        self._usual.setOpts(x=np.arange(low.size), y0=low, height=high - low)
        self._usual.setVisible(True)
        peak = float(max(np.abs(low).max(), np.abs(high).max())) if low.size else 0.0
        if peak > self.limit:
            self._set_limit(nice_limit(peak * 1.05))

    def set_highlight(self, dim: int | None) -> None:
        """Mark dimension ``dim`` with a band behind its bar (None: no mark)."""
        if dim is not None and not 0 <= dim < self._box.count:
            dim = None
        self.highlighted = dim
        if dim is not None:
            self._band.setOpts(x=[dim], y0=[-self.limit], height=[2 * self.limit])
        self._band.setVisible(dim is not None)

    def set_values(self, z, edited=None, drawing=None) -> None:
        """Show ``z``; bars flagged in ``edited`` are highlighted, with the drawing's own
        values (``drawing``) as dashed outlines."""
        z = np.asarray(z, np.float32)
        if z.shape != self.values.shape:
            raise ValueError(f"expected {self.values.shape[0]} values, got {z.shape}")
        self.values = z.copy()
        peak = float(np.abs(z).max()) if z.size else 0.0
        if peak > self.limit:
            self._set_limit(nice_limit(peak * 1.05))
        self._unpainted = (self.values, None if edited is None else np.array(edited, bool),
                           None if drawing is None else np.array(drawing, np.float32))
        # Behind another tab, the bars follow the drawing when they next show (``paintEvent``):
        # rebuilding pyqtgraph's bars costs a third of a millisecond at every answer.
        if not self.viewport().visibleRegion().isEmpty():
            self._paint_values()
        self._set_hovered(self.hovered)      # the value under the pointer changed too

    def _paint_values(self) -> None:
        z, edited, drawing = self._unpainted
        self._unpainted = None
        if edited is not None and np.any(edited):
            brushes = [self._edited_brush if e else self._brush for e in edited]
            self._bars.setOpts(height=z, brushes=brushes)
            self._ghost.setOpts(height=drawing)
            self._ghost.setVisible(True)
        else:
            self._bars.setOpts(height=z, brushes=None, brush=self._brush)
            self._ghost.setVisible(False)

    def paintEvent(self, event) -> None:
        if self._unpainted is not None:
            self._paint_values()
        super().paintEvent(event)

    def _set_limit(self, limit: float) -> None:
        self.limit = limit
        if self.highlighted is not None:
            self._band.setOpts(y0=[-limit], height=[2 * limit])
        self.setYRange(-limit, limit, padding=0)
        # Ticks at 0, +-limit/2, +-limit, whatever the scale.
        self.getPlotItem().getAxis("left").setTickSpacing(levels=[(limit / 2, 0.0)])

    def _restyle(self) -> None:
        palette = self.palette()
        _style_plot(self, palette)
        self._brush = pg.mkBrush(palette.color(QPalette.ColorRole.Highlight))
        self._edited_brush = pg.mkBrush(EDITED_COLOUR)
        self._bars.setOpts(brush=self._brush, pen=pg.mkPen(None))
        band = QColor(palette.color(QPalette.ColorRole.Highlight))
        band.setAlpha(60)
        self._band.setOpts(brush=pg.mkBrush(band))
        usual = QColor(palette.color(QPalette.ColorRole.Text))
        usual.setAlpha(28)
        self._usual.setOpts(brush=pg.mkBrush(usual))
        self._hover.setColor(palette.color(QPalette.ColorRole.Text))

    def mouseMoveEvent(self, event) -> None:
        # Here rather than the scene's sigMouseMoved, which drops moves closer than a
        # frame apart: the last move before the pointer left the bars could be one.
        scene_pos = self.mapToScene(event.position().toPoint())
        inside = self._box.sceneBoundingRect().contains(scene_pos)
        self._set_hovered(self._box.index_at(self._box.mapSceneToView(scene_pos).x()) if inside else None)
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        self._set_hovered(None)
        super().leaveEvent(event)

    def _set_hovered(self, dim: int | None) -> None:
        """Show the value of bar ``dim`` (None: nothing) as it is now."""
        if dim is not None and not 0 <= dim < self.values.size:
            dim = None
        self.hovered = dim
        text = "" if dim is None else f"z[{dim}] = {self.values[dim]:+.3f}"
        if dim is not None:
            self._hover.setPos(dim, self.limit)
        if text != self.hover_text:
            self.hover_text = text
            self._hover.setText(text)
            self.setToolTip(text)
