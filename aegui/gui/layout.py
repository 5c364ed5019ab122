"""The window's default layout, worked out from the screen it opens on: its size, and how
the canvas and the docks share it. View ▸ Reset Layout goes back to it.

The canvas comes first: it gets a square as tall as the window allows, up to
``CANVAS_SHARE`` of the width, and is never smaller than any dock. The docks share the
rest: in two columns (what the network sees above the latent bars, with the paradigm's
views vs PCA, Sizes and Noise as tabs beside them; the latent map above
the tabs of interpolation, traversals, manifold and drawings) where there is room for
both, else in one column (what the network sees above one group of tabs), so that a small
screen still gives the canvas the most room.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QSize, Qt

__all__ = ["CANVAS_SHARE", "Plan", "arrange", "default_geometry", "plan"]

CANVAS_SHARE = 0.46          # of the window's width, at most
SCREEN_SHARE = 0.92          # of the screen's available width and height
LARGEST = QSize(1800, 1150)  # a default window larger than this leaves the canvas too big to draw on comfortably
CHROME_HEIGHT = 100          # menu bar, tool bar and status bar, about
TWO_COLUMNS = (340, 390)     # the narrowest the two dock columns can be (their contents' minimum widths)
ONE_COLUMN = 390
ONE_COLUMN_SHARE = 0.58     # of the width, at most, for the canvas beside one column
TWO_COLUMNS_CANVAS = 0.38    # of the width: a narrower canvas puts the docks in one column
SEPARATORS = 12


@dataclass(frozen=True)
class Plan:
    """How the window's width is shared: ``columns`` dock widths (1 or 2), the rest is the canvas's."""

    columns: tuple[int, ...]
    canvas: int


def default_geometry(available: QRect) -> QRect:
    """The window's default frame on a screen whose available area is ``available``:
    ``SCREEN_SHARE`` of it (at most ``LARGEST``), centred."""
    width = min(round(available.width() * SCREEN_SHARE), LARGEST.width(), available.width())
    height = min(round(available.height() * SCREEN_SHARE), LARGEST.height(), available.height())
    return QRect(available.x() + (available.width() - width) // 2, available.y() + (available.height() - height) // 2,
                 width, height)


def plan(width: int, height: int) -> Plan:
    """The canvas first: a square as tall as the window's content, at most ``CANVAS_SHARE``
    of the width; the docks in two columns where both fit beside a canvas of at least
    ``TWO_COLUMNS_CANVAS`` of the width, else in one."""
    largest = min(max(height - CHROME_HEIGHT, 200), round(width * CANVAS_SHARE))
    canvas = min(largest, width - sum(TWO_COLUMNS) - SEPARATORS)
    if canvas >= width * TWO_COLUMNS_CANVAS:
        spare = width - canvas
        first = max(TWO_COLUMNS[0], round(spare * 0.44))
        return Plan((first, spare - first), canvas)
    canvas = min(max(height - CHROME_HEIGHT, 200), round(width * ONE_COLUMN_SHARE), width - ONE_COLUMN)
    return Plan((width - canvas,), canvas)


def arrange(window, size: QSize) -> None:
    """Resize ``window`` to ``size`` and put its docks where ``plan`` says: every dock shown
    and docked, the front tab the interpolation (the latent map in one column)."""
    paradigm = [window.linear_dock, window.sizes_dock, window.noise_dock]
    docks = [window.network_dock, window.bars_dock, window.map_dock, window.interpolation_dock,
             window.traversal_dock, window.manifold_dock, window.drawings_dock, *paradigm]
    for dock in docks:
        dock.setFloating(False)
        window.removeDockWidget(dock)
    layout = plan(size.width(), size.height())
    right = Qt.DockWidgetArea.RightDockWidgetArea
    window.addDockWidget(right, window.network_dock)
    if len(layout.columns) == 2:
        window.splitDockWidget(window.network_dock, window.map_dock, Qt.Orientation.Horizontal)
        window.splitDockWidget(window.network_dock, window.bars_dock, Qt.Orientation.Vertical)
        window.splitDockWidget(window.map_dock, window.interpolation_dock, Qt.Orientation.Vertical)
        anchor, tabs = window.interpolation_dock, [window.traversal_dock, window.manifold_dock, window.drawings_dock]
        groups = [(anchor, tabs), (window.bars_dock, paradigm)]
    else:
        window.splitDockWidget(window.network_dock, window.map_dock, Qt.Orientation.Vertical)
        anchor, tabs = window.map_dock, [window.bars_dock, window.interpolation_dock, window.traversal_dock,
                                         window.manifold_dock, window.drawings_dock, *paradigm]
        groups = [(anchor, tabs)]
    # Laid out before tabifying: tabifying into a group of docks never laid out leaves a
    # stray copy of its tab bar behind.
    window.layout().activate()
    for first, rest in groups:
        for dock in rest:
            window.tabifyDockWidget(first, dock)
    for dock in docks:
        dock.show()          # hidden docks keep no size: shown first, then sized
    for first, _ in groups:
        first.raise_()
    # Resized once docked: the minimum size is the new arrangement's (one column is narrower).
    window.layout().activate()
    window.resize(size)
    content = size.height() - CHROME_HEIGHT
    if len(layout.columns) == 2:
        window.resizeDocks([window.network_dock, window.map_dock], list(layout.columns), Qt.Orientation.Horizontal)
        window.resizeDocks([window.network_dock, window.bars_dock], [content * 2 // 5, content * 3 // 5],
                           Qt.Orientation.Vertical)
        window.resizeDocks([window.map_dock, window.interpolation_dock], [content // 2, content // 2],
                           Qt.Orientation.Vertical)
    else:
        window.resizeDocks([window.network_dock], list(layout.columns), Qt.Orientation.Horizontal)
        # Halves: the tabs below are as wide as the canvas, and must not outgrow it.
        window.resizeDocks([window.network_dock, window.map_dock], [content // 2, content // 2],
                           Qt.Orientation.Vertical)
