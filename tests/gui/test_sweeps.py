"""The latent traversal and the manifold grid in the window: what they decode, what hovering
and clicking do, and that they are computed only while they show."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gui_helpers import draw_digit, make_model, settle
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from aegui import traversal


def decode(model, codes) -> np.ndarray:
    codes = np.asarray(codes, np.float32)
    with torch.inference_mode():
        out = model.decode(torch.from_numpy(codes.reshape(-1, codes.shape[-1])))
    return out.reshape(*codes.shape[:-1], 28, 28).numpy()


def as_shown(images) -> np.ndarray:
    return np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8)


def hover(widget, pos: QPointF) -> None:
    QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseMove, pos, widget.mapToGlobal(pos),
                                               Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                               Qt.KeyboardModifier.NoModifier))


def show_traversal(window, qtbot, digit="3"):
    from aegui.gui.sweeps import showing

    window.traversal_dock.raise_()
    qtbot.waitUntil(lambda: showing(window.traversal_dock))
    draw_digit(window.canvas, digit)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.sweeps.traversal_panel.traversal is not None)
    settle(qtbot, window)
    return window.sweeps.traversal_panel


def test_the_traversal_shows_each_dimension_swept_around_the_drawing_ranked_by_change(window, qtbot, model):
    panel = show_traversal(window, qtbot)
    result = panel.traversal
    z = window.session.drawing.z
    assert panel.grid.shape == (16, traversal.STEPS)
    assert sorted(result.order.tolist()) == list(range(16))
    assert panel.grid.row_labels == [f"z[{d}]" for d in result.order]
    assert panel.grid.column_labels[0] == "-2σ" and panel.grid.column_labels[-1] == "+2σ"
    expected = decode(model, traversal.sweep(z, window.session.info.code_std))[result.order]
    np.testing.assert_allclose(result.images, expected, atol=1e-5)
    np.testing.assert_array_equal(panel.grid.pixels()[:, traversal.STEPS // 2],
                                  np.broadcast_to(panel.grid.pixels()[0, traversal.STEPS // 2], (16, 28, 28)))
    # Higher-ranked rows change the image more.
    centre = decode(model, z[None])[0]
    change = [np.abs(row - centre).mean() for row in expected]
    assert change == sorted(change, reverse=True)
    # The sweep spans +-2 standard deviations of the dimension over the reference codes.
    std = model.reference.codes.std(axis=0)
    dim = result.order[0]
    assert result.values[0, -1] - result.values[0, 0] == pytest.approx(4 * std[dim], rel=1e-4)


def test_hovering_a_row_highlights_its_dimension_in_the_latent_bars(window, qtbot):
    panel = show_traversal(window, qtbot)
    grid = panel.grid
    hover(grid, grid.cell_rect(2, 4).center())
    assert window.latent_panel.bars.highlighted == panel.traversal.order[2]
    assert grid.highlight_row == 2
    assert panel.status.text().startswith(f"z[{panel.traversal.order[2]}]: change ")
    hover(grid, QPointF(1, 1))                     # off the cells
    assert window.latent_panel.bars.highlighted is None
    hover(grid, grid.cell_rect(1, 1).center())
    assert window.latent_panel.bars.highlighted == panel.traversal.order[1]
    window.interpolation_dock.raise_()              # the traversal goes behind, under the pointer
    qtbot.waitUntil(lambda: window.latent_panel.bars.highlighted is None)


def test_clicking_a_cell_sets_that_value_and_shows_its_decoding(window, qtbot):
    panel = show_traversal(window, qtbot)
    grid = panel.grid
    row, col = 0, traversal.STEPS - 1
    dim, value = int(panel.traversal.order[row]), float(panel.traversal.values[row, col])
    QTest.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     grid.cell_rect(row, col).center().toPoint())
    assert window.session.edit.current[dim] == pytest.approx(value)
    assert window.session.edit.edited.tolist() == [d == dim for d in range(16)]
    assert grid.highlight_cell == (row, col)
    settle(qtbot, window)
    shown = window.network.reconstruction.pixels().astype(int)
    assert np.abs(shown - grid.pixels()[row, col].astype(int)).max() <= 1
    window.session.reset_edit()
    assert grid.highlight_cell is None


def test_the_traversal_works_for_a_vae_too(qtbot, tmp_path):
    from aegui.gui import create_window
    from aegui.gui.settings import Settings

    vae = make_model("vae", 4, seed=2)
    win = create_window(vae, settings=Settings(tmp_path / "settings.ini"), data_dir=tmp_path / "data")
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: win.session.info is not None, timeout=60000)
    panel = show_traversal(win, qtbot, "8")
    assert panel.grid.shape == (4, traversal.STEPS)
    z = win.session.drawing.z
    expected = decode(vae, traversal.sweep(z, win.session.info.code_std))[panel.traversal.order]
    np.testing.assert_allclose(panel.traversal.images, expected, atol=1e-5)
    win.close()


def test_hidden_sweeps_are_not_computed(window, qtbot):
    from aegui.gui.sweeps import showing

    assert showing(window.interpolation_dock)       # the front tab; the sweeps are behind it
    assert not showing(window.traversal_dock) and not showing(window.manifold_dock)
    before = dict(window.worker.served)
    draw_digit(window.canvas, "2")
    settle(qtbot, window)
    assert window.worker.served["traversal"] == before["traversal"]
    assert window.worker.served["manifold"] == before["manifold"]


def test_behind_a_tab_the_traversal_is_not_even_timed_while_the_user_draws(window, qtbot):
    # A timer that fires 30 times a second only to find the dock hidden costs the UI
    # thread while the pen moves. Noted as each drawing's answer arrives (after the views'
    # own listeners): is the traversal's (and the paradigm views') timer running?
    timed = []
    window.session.drawing_changed.connect(
        lambda _result: timed.append((window.sweeps._follow.pending(), window.paradigm._follow.pending())))
    draw_digit(window.canvas, "2")
    settle(qtbot, window)
    assert timed and not any(sweep or reading for sweep, reading in timed)
    window.traversal_dock.raise_()
    qtbot.waitUntil(lambda: window.sweeps.traversal_panel.traversal is not None, timeout=20000)
    settle(qtbot, window)
    timed.clear()
    served = window.worker.served["traversal"]
    draw_digit(window.canvas, "3")
    settle(qtbot, window)
    assert timed and all(sweep for sweep, _reading in timed)
    assert window.worker.served["traversal"] > served


def show_manifold(window, qtbot):
    window.manifold_dock.raise_()
    qtbot.waitUntil(lambda: window.sweeps.manifold_panel.xy is not None, timeout=20000)
    settle(qtbot, window)
    return window.sweeps.manifold_panel


def test_the_manifold_grid_decodes_the_plane_of_the_latent_map(window, qtbot, model):
    panel = show_manifold(window, qtbot)
    assert panel.grid.shape == (12, 12) and panel.xy.shape == (12, 12, 2)
    plane = window.session.map.plane           # the linear view, not the neighbour map
    codes = plane.inverse(panel.xy.reshape(-1, 2)).reshape(12, 12, -1)
    np.testing.assert_allclose(panel.grid.pixels().astype(int), as_shown(decode(model, codes)).astype(int), atol=1)
    assert panel.xy[0, 0, 1] > panel.xy[-1, 0, 1] and panel.xy[0, -1, 0] > panel.xy[0, 0, 0]  # y up, x right
    share = plane.projection.explained
    assert panel.axes.text() == f"→ PC 1 ({share[0]:.0%} of the variance)   ↑ PC 2 ({share[1]:.0%} of the variance)"


def test_the_manifold_grids_size_and_range_are_adjustable(window, qtbot):
    panel = show_manifold(window, qtbot)
    wide = panel.xy
    panel.size_spin.setValue(5)
    qtbot.waitUntil(lambda: panel.grid.shape == (5, 5))
    panel.reach_spin.setValue(1.0)
    qtbot.waitUntil(lambda: panel.xy is not None and panel.xy.shape == (5, 5, 2)
                    and abs(np.ptp(panel.xy[..., 0]) - np.ptp(wide[..., 0]) / 2) < 1e-6)
    np.testing.assert_allclose(panel.xy[2, 2], wide[..., :].reshape(-1, 2).mean(axis=0), atol=1e-6)


def test_clicking_the_manifold_grid_decodes_that_point(window, qtbot):
    panel = show_manifold(window, qtbot)
    QTest.mouseClick(panel.grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     panel.grid.cell_rect(3, 8).center().toPoint())
    assert window.session.edit.is_edited
    np.testing.assert_allclose(window.session.map.plane.forward(window.session.edit.current), panel.xy[3, 8], atol=1e-4)
    settle(qtbot, window)
    shown = window.network.reconstruction.pixels().astype(int)
    assert np.abs(shown - panel.grid.pixels()[3, 8].astype(int)).max() <= 1


def test_for_a_two_dimensional_model_the_manifold_is_the_latent_plane_itself(qtbot, tmp_path):
    from aegui.gui import create_window
    from aegui.gui.settings import Settings

    flat = make_model("ae", 2, seed=5)
    win = create_window(flat, settings=Settings(tmp_path / "settings.ini"), data_dir=tmp_path / "data")
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: win.session.info is not None, timeout=60000)
    panel = show_manifold(win, qtbot)
    np.testing.assert_allclose(panel.grid.pixels().astype(int), as_shown(decode(flat, panel.xy)).astype(int),
                               atol=1)
    assert panel.axes.text() == "→ z₀   ↑ z₁"
    win.close()
