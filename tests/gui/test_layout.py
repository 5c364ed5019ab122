"""The window's default layout fits the screen it opens on, gives the canvas the most room,
and View ▸ Reset Layout brings it back after docks were closed, floated and moved."""

from __future__ import annotations

import pytest
from gui_helpers import settle
from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import QDockWidget

from aegui.gui.layout import default_geometry, plan

# Available areas of screens (logical pixels): a netbook, 2560x1600 at 200 % less a panel,
# a laptop, full HD less a task bar, a large monitor.
SCREENS = [QRect(0, 0, 1024, 700), QRect(0, 27, 1280, 773), QRect(0, 0, 1366, 768), QRect(0, 0, 1920, 1040),
           QRect(1920, 0, 2560, 1400)]


@pytest.mark.parametrize("available", SCREENS, ids=lambda r: f"{r.width()}x{r.height()}")
def test_the_default_window_fits_the_screen(available):
    frame = default_geometry(available)
    assert available.contains(frame)
    assert frame.width() >= 0.85 * min(available.width(), 1800) and frame.height() >= 0.85 * min(available.height(),
                                                                                                 1150)
    assert abs(frame.center().x() - available.center().x()) <= 1


def panels(window) -> dict[str, int]:
    """Area on screen of the canvas and of every dock that shows (the front tab of a group)."""
    areas = {"canvas": window.canvas.width() * window.canvas.height()}
    for dock in window.findChildren(QDockWidget):
        if dock.isVisible() and not dock.visibleRegion().isEmpty():
            areas[dock.objectName()] = dock.width() * dock.height()
    return areas


@pytest.mark.parametrize("available", SCREENS, ids=lambda r: f"{r.width()}x{r.height()}")
def test_the_canvas_is_the_largest_panel_at_the_default_size(window, qtbot, available):
    frame = default_geometry(available)
    window.lay_out(frame.size())
    settle(qtbot, window)
    assert window.size() == frame.size()      # nothing forced the window larger than the screen
    areas = panels(window)
    assert max(areas, key=areas.get) == "canvas", areas
    assert window.canvas.page_rect().width() >= 0.55 * (frame.height() - 100)
    # What the network sees and the latent map always show; the rest at most a tab away.
    assert {"networkDock", "latentMapDock"} <= set(areas)
    for dock in window.findChildren(QDockWidget):
        assert not dock.isFloating() and (dock.isVisible() or window.tabifiedDockWidgets(dock)), dock.objectName()


def test_two_dock_columns_where_they_fit_else_one():
    assert len(plan(1024, 700).columns) == 1
    assert len(plan(1360, 860).columns) == 2
    assert len(plan(1920, 1040).columns) == 2
    for width, height in ((1024, 700), (1178, 711), (1360, 860), (1766, 957)):
        layout = plan(width, height)
        assert layout.canvas + sum(layout.columns) == width
        if len(layout.columns) == 2:
            assert all(layout.canvas > column for column in layout.columns)
        else:         # one column holds two panels, one above the other
            assert layout.canvas * (height - 100) > layout.columns[0] * (height - 100) / 2


def test_reset_layout_puts_every_dock_back_and_sizes_the_window_for_its_screen(window, qtbot):
    window.map_dock.close()
    window.network_dock.setFloating(True)
    window.drawings_dock.raise_()
    window.resize(700, 500)
    settle(qtbot, window)
    window.reset_layout_action.trigger()
    settle(qtbot, window)
    frame = default_geometry(window.screen().availableGeometry())
    assert window.size() == frame.size()
    for dock in window.findChildren(QDockWidget):
        assert not dock.isFloating() and (dock.isVisible() or window.tabifiedDockWidgets(dock)), dock.objectName()
    assert window.map_dock.isVisible() and window.network_dock.isVisible()
    areas = panels(window)
    assert max(areas, key=areas.get) == "canvas", areas


def test_the_layout_is_remembered_and_a_fresh_start_gets_the_default(window, qtbot, tmp_path, model):
    from aegui.gui import create_window
    from aegui.gui.settings import Settings

    window.lay_out(QSize(760, 700))        # the offscreen screen is 800x800
    settle(qtbot, window)
    window.map_dock.close()
    window.write_settings()
    again = create_window(model, settings=Settings(tmp_path / "settings.ini"), data_dir=tmp_path / "data")
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.session.info is not None, timeout=60000)
    settle(qtbot, again)
    assert again.size() == QSize(760, 700) and not again.map_dock.isVisible()
    again.close()
    fresh = create_window(model, settings=Settings(tmp_path / "other.ini"), data_dir=tmp_path / "data")
    qtbot.addWidget(fresh)
    fresh.show()
    settle(qtbot, fresh)
    assert fresh.size() == default_geometry(fresh.screen().availableGeometry()).size()
    assert fresh.map_dock.isVisible()
    fresh.close()
