"""The latent map widget: the reference digits on one of the model's maps, the drawing's
star and an edited code's ring; legend, robust limits, zoom, pan, hover and export.

The maps themselves (``aegui.latent_map.LatentMap``: points, placing a code, a code for a
point) are plain data made by the inference thread; this widget only shows them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QImage, QPainter, QPalette, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsItem, QLabel

from aegui.latent_map import robust_range

from .plots import DIGIT_COLOURS, EDITED_COLOUR, _PalettePlot, _style_plot

__all__ = ["LatentMap", "robust_range"]


class LatentMap(_PalettePlot):
    """The reference digits as a coloured scatter on one of the model's maps (``set_layout``:
    "map", the neighbour map, or "linear", the principal components), the drawing's code
    as a star and an edited code as a ring.

    Reading it: the legend sits above the plot, outside the points; the home range
    (``home_range``, ``reset_view``) holds 99% of the digits, and those beyond it are
    drawn on its edge instead of shrinking everyone else; the wheel zooms, a drag pans;
    hovering a digit shows its image and label (``hover_index``). A left click emits
    ``pointPicked(x, y)`` in map coordinates. ``render`` draws it at any width."""

    pointPicked = Signal(float, float)

    VIEWS = {"map": "Neighbour map", "linear": "Linear view (PCA)"}
    HOVER_RADIUS_PX = 8

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("latentMap")
        plot = self.getPlotItem()
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=True, y=True)
        # Not "range": pyqtgraph's GraphicsView keeps its own QRectF under that name.
        self.home_range = (-1.0, 1.0, -1.0, 1.0)
        self.maps: dict = {}
        self.view = "map"
        self.images: np.ndarray | None = None
        self._shown_xy = np.zeros((0, 2), np.float32)      # points as drawn (outliers on the edge)
        self._brushes = [pg.mkBrush(colour) for colour in DIGIT_COLOURS]
        # One item for all the reference digits (not one per digit): the scene asks every
        # item for its bounding box on each repaint, and that is most of a repaint's cost.
        self._digits = _ReferencePoints(size=4, pen=None)
        # Drawn once into a pixmap: moving the markers does not redraw 5000 points.
        self._digits.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.addItem(self._digits)
        self._edit = _Marker("o", 16)
        self._marker = _Marker("star", 20)
        self.addItem(self._edit)
        self.addItem(self._marker)
        self.marker_xy: tuple[float, float] | None = None
        self.edit_xy: tuple[float, float] | None = None
        self.hover_index: int | None = None
        self.hover_text = ""
        self._card = _HoverCard(self)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.scene().sigMouseMoved.connect(self._hovered)
        self.setMinimumSize(160, 160)
        self._restyle()
        self._built = True

    # ------------------------------------------------------------------ content

    def set_layout(self, layout) -> None:
        """A model's map (``aegui.latent_map.MapViews``: its views, the one to show, the
        digits' images for hovering), or None: no map."""
        self.maps = dict(layout.views) if layout is not None else {}
        self.images = layout.images if layout is not None else None
        self.view = layout.view if layout is not None else "map"
        self._show()

    @property
    def current(self):
        """The ``LatentMap`` shown, or None."""
        return self.maps.get(self.view)

    def _show(self) -> None:
        current = self.current
        plot = self.getPlotItem()
        if current is None:
            self._digits.setData(x=[], y=[])
            self._shown_xy = np.zeros((0, 2), np.float32)
            plot.setLabel("bottom", "")
            plot.setLabel("left", "")
            self.home_range = (-1.0, 1.0, -1.0, 1.0)
        else:
            self.home_range = robust_range(current.xy)
            self._shown_xy = self._on_edge(current.xy)
            # Drawn in order of the digit, 9s last (on top), as when each digit had its item.
            order = np.argsort(current.labels, kind="stable")
            labels = np.asarray(current.labels)[order]
            self._digits.setData(x=self._shown_xy[order, 0], y=self._shown_xy[order, 1],
                                 brush=[self._brushes[int(d) % len(self._brushes)] for d in labels])
            plot.setLabel("bottom", current.axis_names[0])
            plot.setLabel("left", current.axis_names[1])
        self._legend(current is not None)
        self.set_marker(None)
        self.set_edit_marker(None)
        self._hide_card()
        self.reset_view()

    def reset_view(self) -> None:
        """Back to the home range (after zooming or panning)."""
        x0, x1, y0, y1 = self.home_range
        self.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def view_range(self) -> tuple[float, float, float, float]:
        """x0, x1, y0, y1 of what is on screen now."""
        (x0, x1), (y0, y1) = self.getPlotItem().getViewBox().viewRange()
        return (float(x0), float(x1), float(y0), float(y1))

    def set_marker(self, xy) -> None:
        """Where the drawing's code lies (None hides the marker)."""
        self.marker_xy = self._place(self._marker, xy)

    def set_edit_marker(self, xy) -> None:
        """Where the edited code lies (None hides it)."""
        self.edit_xy = self._place(self._edit, xy)

    def _place(self, item, xy):
        if xy is None:
            item.setVisible(False)
            return None
        x, y = float(xy[0]), float(xy[1])
        # Far out, it is drawn on the edge of the home range, as the outlying digits are.
        shown = self._on_edge(np.array([[x, y]]))[0]
        item.setPos(float(shown[0]), float(shown[1]))
        item.setVisible(True)
        return (x, y)

    def marker_shown_at(self) -> tuple[float, float] | None:
        """Where the star is drawn (on the home range's edge when the code is far out), or None."""
        return (self._marker.pos().x(), self._marker.pos().y()) if self._marker.isVisible() else None

    def _on_edge(self, xy) -> np.ndarray:
        x0, x1, y0, y1 = self.home_range
        xy = np.asarray(xy, np.float32)
        return np.stack([np.clip(xy[:, 0], x0, x1), np.clip(xy[:, 1], y0, y1)], axis=1) if len(xy) else xy

    def _legend(self, visible: bool) -> None:
        """The digits' colours, as the plot's title: above the points, never over them."""
        if not visible:
            self.getPlotItem().setTitle(None)
            return
        text = self.palette().color(QPalette.ColorRole.Text).name()
        swatches = "&nbsp;&nbsp;".join(f"<span style='color:{c}'>&#9679;</span>&nbsp;{d}"
                                       for d, c in enumerate(DIGIT_COLOURS))
        self.getPlotItem().setTitle(f"<span style='color:{text}'>{swatches}</span>", size="9pt")

    # ------------------------------------------------------------------ export

    def render(self, width: int) -> QImage:
        """The map as an image ``width`` pixels wide (the height keeps the aspect ratio),
        as shown now (view, zoom, markers, legend, axes)."""
        from pyqtgraph.exporters import ImageExporter

        if not 16 <= int(width) <= 20000:
            raise ValueError(f"export width {width}: expected 16 to 20000 pixels")
        exporter = ImageExporter(self.getPlotItem())
        exporter.parameters()["width"] = int(width)
        return exporter.export(toBytes=True)

    # ------------------------------------------------------------------ style, mouse

    def _restyle(self) -> None:
        palette = self.palette()
        _style_plot(self, palette)
        text = palette.color(QPalette.ColorRole.Text)
        self._marker.set_style(pg.mkPen(palette.color(QPalette.ColorRole.Base), width=1.5), pg.mkBrush(text))
        self._edit.set_style(pg.mkPen(EDITED_COLOUR, width=3), QBrush(Qt.BrushStyle.NoBrush))
        self._legend(self.current is not None)

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        box = self.getPlotItem().getViewBox()
        if not box.sceneBoundingRect().contains(ev.scenePos()):
            return
        point = box.mapSceneToView(ev.scenePos())
        self.pointPicked.emit(float(point.x()), float(point.y()))

    def _hovered(self, scene_pos) -> None:
        box = self.getPlotItem().getViewBox()
        index = None
        if len(self._shown_xy) and box.sceneBoundingRect().contains(scene_pos):
            point = box.mapSceneToView(scene_pos)
            width, height = box.viewPixelSize()
            d2 = (((self._shown_xy[:, 0] - point.x()) / width) ** 2
                  + ((self._shown_xy[:, 1] - point.y()) / height) ** 2)
            nearest = int(np.argmin(d2))
            if d2[nearest] <= self.HOVER_RADIUS_PX ** 2:
                index = nearest
        if index is None:
            self._hide_card()
            return
        if index != self.hover_index:
            self.hover_index = index
            self.hover_text = f"a {int(self.current.labels[index])}"
            image = self.images[index] if self.images is not None else None
            self._card.show_digit(image, self.hover_text)
        self._card.move_near(self.mapFromScene(scene_pos))

    def _hide_card(self) -> None:
        self.hover_index = None
        self.hover_text = ""
        self._card.hide()

    def leaveEvent(self, event) -> None:
        self._hide_card()
        super().leaveEvent(event)


class _HoverCard(QLabel):
    """A small card over the map: the hovered digit's image, 3x, and its label."""

    SCALE = 3

    def __init__(self, parent):
        super().__init__(parent)
        self.setObjectName("mapHoverCard")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAutoFillBackground(True)
        self.setFrameShape(QLabel.Shape.Box)
        self.setMargin(4)
        self.hide()

    def show_digit(self, image, text: str) -> None:
        if image is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            ink = np.ascontiguousarray(255 - np.asarray(image, np.uint8))   # dark ink on light, as drawn
            picture = QImage(ink.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
            side = 28 * self.SCALE
            self.setPixmap(QPixmap.fromImage(picture).scaled(side, side))
            self.setToolTip(text)
        self.setAccessibleName(text)
        self.adjustSize()
        self.show()
        self.raise_()

    def move_near(self, where) -> None:
        """Beside the pointer, inside the map."""
        parent = self.parentWidget()
        x = min(where.x() + 14, parent.width() - self.width() - 2)
        y = min(where.y() + 14, parent.height() - self.height() - 2)
        if x < where.x() < x + self.width():
            x = max(where.x() - 14 - self.width(), 0)
        self.move(max(int(x), 0), max(int(y), 0))


class _Marker(pg.GraphicsObject):
    """One symbol at a point of the map, ``size`` pixels across whatever the zoom, moved
    by ``setPos``. pyqtgraph's scatter rebuilt its data to move its one point (0.35 ms)
    and took as long again to paint it, at every answer while the user draws."""

    def __init__(self, symbol: str, size: float):
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)   # pixels, as pxMode
        self._path = QTransform.fromScale(size, size).map(pg.graphicsItems.ScatterPlotItem.Symbols[symbol])
        self._pen, self._brush = QPen(), QBrush()
        self.setZValue(1)
        self.setVisible(False)

    def set_style(self, pen: QPen, brush: QBrush) -> None:
        self.prepareGeometryChange()
        self._pen, self._brush = QPen(pen), QBrush(brush)
        self.update()

    def boundingRect(self) -> QRectF:
        reach = self._pen.widthF() / 2 + 1
        return self._path.boundingRect().adjusted(-reach, -reach, reach, reach)

    def paint(self, painter, option, widget=None) -> None:
        # An export at another resolution scales the symbol as pyqtgraph's scatter does.
        scale = self._exportOpts.get("resolutionScale", 1.0) if self._exportOpts is not False else 1.0
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(scale, scale)
        painter.setPen(self._pen)
        painter.setBrush(self._brush)
        painter.drawPath(self._path)


class _ReferencePoints(pg.ScatterPlotItem):
    """A scatter whose bounding box is worked out once per data and view, not on every
    repaint: pyqtgraph's costs a fifth of a millisecond (it measures the size of a pixel
    in data units each time), and the scene asks for it several times per repaint, i.e.
    whenever the drawing's star moves."""

    def boundingRect(self):
        scale = self._pixel_scale()
        key = self._state(scale)
        cached = getattr(self, "_bounds_cache", None)
        if key is not None and cached is not None and cached[0] == key and None not in key[:2]:
            return cached[1]
        rect = super().boundingRect()
        # The data bounds are filled in by the call above: key on them as they are now.
        self._bounds_cache = (self._state(scale), rect)
        return rect

    def _state(self, scale):
        """What pyqtgraph's box depends on: its cached data bounds and the largest spot
        (its own attributes, read with care: None, i.e. no caching, where a pyqtgraph
        without them is installed)."""
        bounds, width = getattr(self, "bounds", None), getattr(self, "_maxSpotPxWidth", None)
        if not isinstance(bounds, list) or len(bounds) != 2 or width is None:
            return None
        return (bounds[0], bounds[1], width, scale)

    def _pixel_scale(self):
        """The linear part of the data-to-screen transform: all that the padding depends on."""
        view = self.getViewWidget()
        if view is None:
            return None
        t = self.deviceTransform(view.viewportTransform())
        return (t.m11(), t.m12(), t.m21(), t.m22())
