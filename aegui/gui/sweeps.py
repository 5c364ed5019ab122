"""The docks that sweep the latent space: the traversal of each dimension and the manifold grid.

Both panels show decodings the session holds (``aegui.traversal`` says what they are)
and report what the user points at. ``Sweeps`` wires them to the session: it asks for a
sweep only while its dock is on screen (a dock behind another tab costs nothing).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (QDockWidget, QDoubleSpinBox, QLabel, QPushButton, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)

from aegui.traversal import SPAN, Traversal

from .actions import Throttle
from .grid import ImageGrid
from .views import TextLine, hint_label, row

__all__ = ["ManifoldPanel", "Sweeps", "TraversalPanel", "showing"]


def _scrolling(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class TraversalPanel(QWidget):
    """One row per latent dimension, most telling first: the drawing's code with that
    dimension swept from -2 to +2 standard deviations. Hovering a row reports its
    dimension (``dimensionHovered``, -1 when none); clicking a cell asks for that value
    (``valueChosen(dim, value)``)."""

    dimensionHovered = Signal(int)
    valueChosen = Signal(int, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("traversal")
        self.traversal: Traversal | None = None
        self.grid = ImageGrid("traversalGrid", min_cell=16, preferred_cell=30, max_cell=48)
        self.grid.cellHovered.connect(self._hovered)
        self.grid.cellClicked.connect(self._clicked)
        self.status = TextLine("Draw a digit to see what each dimension does",
                               "z[12]: change 0.000 · value +0.000 (+2.0σ)")
        self.status.setObjectName("traversalStatus")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(_scrolling(self.grid), 1)
        layout.addWidget(self.status)
        layout.addWidget(hint_label(f"Each row sweeps one dimension from −{SPAN:g}σ to +{SPAN:g}σ around your "
                               "drawing's code (σ: its spread over the data set), the rows that change "
                               "the image most first. Click a cell to set that value."))

    def set_traversal(self, traversal: Traversal | None) -> None:
        """Show a ranked traversal (None: nothing drawn)."""
        self.traversal = traversal
        if traversal is None:
            self.grid.set_images(np.zeros((0, 0, 28, 28)))
            self.status.setText(self.summary())
            return
        steps = len(traversal.offsets)
        columns = [""] * steps
        columns[0], columns[steps // 2], columns[-1] = (f"{traversal.offsets[0]:+g}σ", "0",
                                                        f"{traversal.offsets[-1]:+g}σ")
        self.grid.set_images(traversal.images, [f"z[{d}]" for d in traversal.order], columns)
        self._hovered(*self.grid.hovered)

    def summary(self) -> str:
        """What the status line says while the pointer is over no row."""
        t = self.traversal
        if t is None:
            return "Draw a digit to see what each dimension does"
        return (f"z[{t.order[0]}] changes this drawing most ({t.change[0]:.3f}), z[{t.order[-1]}] least; "
                "hover a row to read it")

    def value_at(self, row: int, col: int) -> tuple[int, float]:
        """(dimension, value) of a cell."""
        t = self.traversal
        return int(t.order[row]), float(t.values[row, col])

    def _hovered(self, row: int, col: int) -> None:
        t = self.traversal
        if t is None or not 0 <= row < len(t.order):
            self.grid.set_highlight(None, self.grid.highlight_cell)
            self.status.setText(self.summary())
            self.dimensionHovered.emit(-1)
            return
        self.grid.set_highlight(row, self.grid.highlight_cell)
        dim, value = self.value_at(row, col)
        self.status.setText(f"z[{dim}]: change {t.change[row]:.3f} · value {value:+.3f} "
                            f"({t.offsets[col]:+.1f}σ)")
        self.dimensionHovered.emit(dim)

    def _clicked(self, row: int, col: int) -> None:
        if self.traversal is None:
            return
        self.grid.set_highlight(self.grid.highlight_row, (row, col))
        self.valueChosen.emit(*self.value_at(row, col))

    def clear_choice(self) -> None:
        """Forget the clicked cell (the code was reset)."""
        self.grid.set_highlight(self.grid.highlight_row, None)


class ManifoldPanel(QWidget):
    """A ``size`` x ``size`` grid of decodings over the latent map's plane, ``reach``
    standard deviations of the data set each way. ``settingsChanged`` when either changes;
    a click asks to decode that point (``pointPicked(x, y)``, map coordinates)."""

    settingsChanged = Signal()
    pointPicked = Signal(float, float)
    exportRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("manifold")
        self.xy: np.ndarray | None = None
        self.grid = ImageGrid("manifoldGrid", min_cell=10, preferred_cell=28, gap=0)
        self.grid.cellClicked.connect(self._clicked)
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("manifoldSize")
        self.size_spin.setRange(2, 30)
        self.size_spin.setValue(12)
        self.size_spin.setSuffix(" per side")
        self.size_spin.setToolTip("Decodings per side of the grid")
        self.reach_spin = QDoubleSpinBox()
        self.reach_spin.setObjectName("manifoldReach")
        self.reach_spin.setRange(0.25, 6.0)
        self.reach_spin.setSingleStep(0.25)
        self.reach_spin.setValue(SPAN)
        self.reach_spin.setPrefix("± ")
        self.reach_spin.setSuffix(" σ")
        self.reach_spin.setToolTip("How far the grid reaches each way, in standard deviations of the data set")
        for spin in (self.size_spin, self.reach_spin):
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda *_: self.settingsChanged.emit())
        self.export_button = QPushButton("Export PNG…")
        self.export_button.clicked.connect(self.exportRequested)
        self.axes = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.axes)
        layout.addLayout(row(QLabel("Grid"), self.size_spin, QLabel("range"), self.reach_spin, 1, self.export_button))
        layout.addWidget(hint_label("Decodings over the plane of the latent map: right is its x axis, up its "
                               "y axis. Click one to decode it."))

    @property
    def size(self) -> int:
        return self.size_spin.value()

    @property
    def reach(self) -> float:
        return self.reach_spin.value()

    def set_axes(self, names: tuple[str, str]) -> None:
        self.axes.setText(f"→ {names[0]}   ↑ {names[1]}")

    def set_grid(self, xy: np.ndarray | None, images: np.ndarray | None) -> None:
        """Show the decodings ``images`` (n, n, 28, 28) of the plane points ``xy`` (n, n, 2)."""
        self.xy = None if xy is None else np.asarray(xy)
        self.grid.set_images(np.zeros((0, 0, 28, 28)) if images is None else images)
        self.export_button.setEnabled(images is not None)

    def _clicked(self, row: int, col: int) -> None:
        if self.xy is not None:
            x, y = self.xy[row, col]
            self.pointPicked.emit(float(x), float(y))


def showing(dock: QDockWidget) -> bool:
    """The dock is on screen: shown, and the front tab if it is one of several."""
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def any_shown(*docks: QDockWidget) -> Callable[[], bool]:
    """A cheap test, kept up to date by the docks' ``visibilityChanged``: may any of them
    be on screen? (What follows the drawing is not even timed while none is: a timer
    firing 30 times a second while the user draws, to find the dock behind a tab.)"""
    shown = {dock: showing(dock) for dock in docks}
    for dock in docks:
        dock.visibilityChanged.connect(lambda visible, dock=dock: shown.__setitem__(dock, visible))
    return lambda: any(shown.values())


class Sweeps(QObject):
    """The traversal and manifold docks, wired to the session. A sweep is asked for only
    while its dock shows (a dock behind another tab costs nothing), the traversal at most
    every ``interval_ms`` while the drawing changes; hovering a traversal row marks its
    dimension on ``bars``; ``export_manifold`` is called by the manifold's export button."""

    def __init__(self, parent: QObject, session, traversal_dock: QDockWidget, manifold_dock: QDockWidget,
                 bars, export_manifold: Callable[[], object], interval_ms: int):
        super().__init__(parent)
        self.session, self.bars = session, bars
        self.traversal_dock, self.manifold_dock = traversal_dock, manifold_dock
        self.traversal_panel: TraversalPanel = traversal_dock.widget()
        self.manifold_panel: ManifoldPanel = manifold_dock.widget()
        self._follow = Throttle(interval_ms, self.request_traversal, self)
        self.traversal_panel.dimensionHovered.connect(lambda d: bars.set_highlight(d if d >= 0 else None))
        self.traversal_panel.valueChosen.connect(self._value_chosen)
        self.manifold_panel.settingsChanged.connect(self.request_manifold)
        self.manifold_panel.pointPicked.connect(session.pick_plane)
        self.manifold_panel.exportRequested.connect(lambda: export_manifold())
        traversal_dock.visibilityChanged.connect(self._traversal_shown)
        manifold_dock.visibilityChanged.connect(lambda shown: shown and QTimer.singleShot(0, self.request_manifold))
        session.model_changed.connect(self._model_changed)
        session.map_changed.connect(lambda _layout: (self._map_axes(), self.request_manifold()))
        traversal_shown = any_shown(traversal_dock)
        session.drawing_changed.connect(lambda _result: traversal_shown() and self._follow.poke())
        session.code_changed.connect(self._code_changed)
        session.traversal_changed.connect(self.traversal_panel.set_traversal)
        session.manifold_changed.connect(self.manifold_panel.set_grid)

    def request_traversal(self) -> None:
        """Sweep each dimension of the drawing's code (only while the traversal shows)."""
        if showing(self.traversal_dock):
            self.session.request_traversal()

    def request_manifold(self) -> None:
        """Decode the manifold grid (only while it shows)."""
        if showing(self.manifold_dock):
            panel = self.manifold_panel
            self.session.request_manifold(panel.size, panel.reach)

    def _value_chosen(self, dim: int, value: float) -> None:
        self.session.edit_value(dim, value)

    def _model_changed(self, _info) -> None:
        self.traversal_panel.set_traversal(None)
        self.manifold_panel.set_grid(None, None)
        self.bars.set_highlight(None)

    def _map_axes(self) -> None:
        layout = self.session.map
        if layout is not None:
            self.manifold_panel.set_axes(layout.plane.axis_names)

    def _code_changed(self) -> None:
        if not self.session.edit.is_edited:
            self.traversal_panel.clear_choice()

    def _traversal_shown(self, shown: bool) -> None:
        # A tab coming to the front is laid out after this signal: ask once that is done.
        if shown:
            QTimer.singleShot(0, self.request_traversal)
        else:     # put behind another tab under the pointer: no leave event says so
            self.traversal_panel.grid.set_highlight(None, self.traversal_panel.grid.highlight_cell)
            self.bars.set_highlight(None)
