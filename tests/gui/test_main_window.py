"""The main window, driven like a user would: real mouse drags, shortcuts, menus, files."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import drag, draw_digit, make_model, page_to_widget, settle
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from aegui.gui.canvas import Canvas
from aegui.gui.map_view import LatentMap
from aegui.gui.plots import LatentBars
from aegui.gui.views import ImageView

NAMED = {"canvas": Canvas, "modelInput": ImageView, "reconstruction": ImageView,
         "latentBars": LatentBars, "latentMap": LatentMap}


def shown(window):
    """What the views show now: copies to compare before and after."""
    return {"input": window.network.model_input.pixels(),
            "output": window.network.reconstruction.pixels(),
            "bars": window.latent_panel.bars.values.copy(),
            "marker": window.map_panel.map.marker_xy}


def test_the_views_carry_their_object_names(window):
    for name, kind in NAMED.items():
        widget = window.findChild(QWidget, name)
        assert isinstance(widget, kind), name
        assert widget.isVisible()


def test_a_drawn_digit_reaches_every_view(window, qtbot):
    before = shown(window)
    assert not before["input"].any() and before["marker"] is None
    draw_digit(window.canvas, "3")
    settle(qtbot, window)
    after = shown(window)
    assert after["input"].max() == 255          # framed like MNIST: peak ink is full
    assert not np.array_equal(after["output"], before["output"])
    assert np.abs(after["bars"]).max() > 0
    np.testing.assert_allclose(after["bars"], window.session.drawing.z)
    assert after["marker"] is not None
    assert window.map_panel.guess_label.text() == window.session.drawing.guess.describe()
    assert window.map_panel.guess_label.text().startswith(("Looks like a", "Not sure: ", "Not a digit"))
    assert window.network.error_label.text() == f"Error (MSE) {window.session.drawing.error:.4f}"
    assert window.latent_views.latency_label.text().endswith(" ms")


def test_the_views_follow_a_stroke_before_it_ends(window, qtbot):
    canvas = window.canvas
    points = [page_to_widget(canvas, 256, y) for y in range(100, 400, 10)]
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0].toPoint())
    for p in points[1:]:
        QApplication.sendEvent(canvas, QMouseEvent(QMouseEvent.Type.MouseMove, p, canvas.mapToGlobal(p),
                                                   Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton,
                                                   Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: window.network.model_input.pixels().any())
    assert window.document.in_stroke          # the button is still down
    qtbot.waitUntil(lambda: window.session.drawing is not None and window.session.drawing.seq == window.session.last_seq)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1].toPoint())


def key(window, sequence: str) -> None:
    from PySide6.QtGui import QKeySequence

    combo = QKeySequence(sequence)[0]
    QTest.keyClick(window, combo.key(), combo.keyboardModifiers())


def test_undo_redo_and_clear_with_the_standard_shortcuts(window, qtbot):
    window.activateWindow()
    qtbot.waitActive(window)
    canvas = window.canvas
    drag(canvas, [page_to_widget(canvas, 100, y) for y in range(100, 400, 20)])
    drag(canvas, [page_to_widget(canvas, x, 250) for x in range(150, 450, 20)])
    two = canvas.raster()
    assert len(window.document.visible()[1]) == 2
    key(window, "Ctrl+Z")
    assert len(window.document.visible()[1]) == 1
    assert window.tools.redo_action.isEnabled()
    key(window, "Ctrl+Shift+Z")
    np.testing.assert_array_equal(canvas.raster(), two)
    key(window, "Ctrl+Z")
    key(window, "Ctrl+Y")
    np.testing.assert_array_equal(canvas.raster(), two)
    assert not window.tools.redo_action.isEnabled()
    settle(qtbot, window)
    assert window.network.model_input.pixels().any()
    key(window, "Delete")
    assert window.document.is_empty() and canvas.raster().max() == 0
    settle(qtbot, window)
    assert not window.network.model_input.pixels().any()
    assert window.map_panel.guess_label.text() == "Not a digit: the page is empty"
    key(window, "Ctrl+Z")                    # clearing is undoable too
    np.testing.assert_array_equal(canvas.raster(), two)


def write_digit_png(path, dark_on_light=True) -> None:
    paper = np.zeros((90, 70), np.uint8)
    paper[15:75, 30:40] = 255
    paper[15:25, 20:40] = 255
    if dark_on_light:
        paper = 255 - paper
    QImage(np.ascontiguousarray(paper).data, 70, 90, 70, QImage.Format.Format_Grayscale8).copy().save(str(path))


def test_an_opened_image_goes_on_the_canvas_and_is_undoable(window, qtbot, tmp_path):
    path = tmp_path / "one.png"
    write_digit_png(path)
    window.dialogs.ask_open_path = lambda title, filter_: str(path)
    window.tools.open_image_action.trigger()
    assert window.canvas.raster().max() == 255
    settle(qtbot, window)
    assert window.network.model_input.pixels().max() == 255
    window.document.undo()
    assert window.canvas.raster().max() == 0


def test_an_unreadable_image_shows_an_error_and_changes_nothing(window, tmp_path):
    draw_digit(window.canvas, "1")
    before = window.canvas.raster()
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG not really")
    assert not window.tools.open_image(str(path))
    assert window.errors and "broken.png" in window.errors[0][1]
    np.testing.assert_array_equal(window.canvas.raster(), before)


def test_the_drawing_saves_as_a_png(window, tmp_path):
    draw_digit(window.canvas, "7")
    path = tmp_path / "seven.png"
    window.dialogs.ask_save_path = lambda *args: str(path)
    window.tools.save_drawing_action.trigger()
    image = QImage(str(path))
    assert image.width() == image.height() == window.document.size
    assert not window.errors


def bar_point(bars: LatentBars, index: int, value: float) -> QPointF:
    box = bars.getPlotItem().getViewBox()
    return QPointF(bars.mapFromScene(box.mapViewToScene(QPointF(index, value))))


def test_dragging_a_bar_edits_that_dimension_and_decodes_it(window, qtbot):
    draw_digit(window.canvas, "3")
    settle(qtbot, window)
    drawing_output = window.network.reconstruction.pixels()
    z = window.session.edit.drawing.copy()
    target = float(np.clip(z[2] + 0.6 * window.latent_panel.bars.limit, -window.latent_panel.bars.limit, window.latent_panel.bars.limit) * 0.9)
    drag(window.latent_panel.bars.viewport(), [bar_point(window.latent_panel.bars, 2, z[2] * t + target * (1 - t))
                                  for t in np.linspace(1, 0, 8)])
    assert window.session.edit.current[2] == pytest.approx(target, abs=0.05 * window.latent_panel.bars.limit)
    assert window.session.edit.edited.tolist() == [i == 2 for i in range(16)]
    np.testing.assert_array_equal(np.delete(window.session.edit.current, 2), np.delete(z, 2))
    settle(qtbot, window)
    assert not np.array_equal(window.network.reconstruction.pixels(), drawing_output)
    assert window.network.output_caption.text() == "Edited code, decoded"
    assert window.network.error_label.text().startswith("Drawing's error (MSE) ")
    assert window.map_panel.map.edit_xy is not None
    assert window.latent_panel.dim_spin.value() == 2
    assert window.latent_panel.value_spin.value() == pytest.approx(window.session.edit.current[2], abs=1e-3)
    window.latent_views.reset_action.trigger()
    settle(qtbot, window)
    np.testing.assert_array_equal(window.network.reconstruction.pixels(), drawing_output)
    np.testing.assert_array_equal(window.latent_panel.bars.values, z)
    assert window.map_panel.map.edit_xy is None


def test_typing_a_value_edits_the_chosen_dimension(window, qtbot):
    draw_digit(window.canvas, "0")
    settle(qtbot, window)
    before = window.network.reconstruction.pixels()
    window.latent_panel.dim_spin.setValue(5)
    window.latent_panel.value_spin.setValue(-0.75)
    assert window.session.edit.current[5] == pytest.approx(-0.75)
    settle(qtbot, window)
    assert window.latent_panel.bars.values[5] == pytest.approx(-0.75)
    assert not np.array_equal(window.network.reconstruction.pixels(), before)


def test_hovering_a_bar_reads_out_its_value(window, qtbot):
    draw_digit(window.canvas, "2")
    settle(qtbot, window)
    bars = window.latent_panel.bars
    p = bar_point(bars, 7, 0.0)
    QApplication.sendEvent(bars.viewport(), QMouseEvent(QMouseEvent.Type.MouseMove, p, bars.mapToGlobal(p),
                                                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                                        Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: bars.hover_text.startswith("z[7] = "))
    assert float(bars.hover_text.split("=")[1]) == pytest.approx(bars.values[7], abs=1e-3)


def isolated_point(latent_map, margin: float = 0.2) -> int:
    """A reference digit well inside the view whose dot has no other within 6 pixels."""
    box = latent_map.getPlotItem().getViewBox()
    width, height = box.viewPixelSize()
    xy = latent_map.current.xy.astype(np.float64)
    x0, x1, y0, y1 = latent_map.view_range()
    inside = np.flatnonzero((xy[:, 0] > x0 + margin * (x1 - x0)) & (xy[:, 0] < x1 - margin * (x1 - x0))
                            & (xy[:, 1] > y0 + margin * (y1 - y0)) & (xy[:, 1] < y1 - margin * (y1 - y0)))
    pixels = xy / [width, height]
    for i in inside:
        d = np.sqrt(((pixels - pixels[i]) ** 2).sum(axis=1))
        d[i] = np.inf
        if d.min() > 6:
            return int(i)
    raise AssertionError("no isolated reference digit on the map")


def click_at(latent_map, xy):
    box = latent_map.getPlotItem().getViewBox()
    p = latent_map.mapFromScene(box.mapViewToScene(QPointF(*map(float, xy))))
    QTest.mouseClick(latent_map.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p)


def test_clicking_a_digit_on_the_map_decodes_a_code_whose_nearest_reference_is_that_digit(window, qtbot):
    latent_map = window.map_panel.map
    assert latent_map.current.kind == "neighbours"
    i = isolated_point(latent_map)
    click_at(latent_map, latent_map.current.xy[i])
    assert window.session.edit.is_edited
    codes = latent_map.current.codes
    nearest = int(np.argmin(((codes - window.session.edit.current) ** 2).sum(axis=1)))
    assert nearest == i
    settle(qtbot, window)
    assert window.network.reconstruction.pixels().any()
    # The ring of the edited code lands on the clicked digit (within its dot's isolation).
    width, height = latent_map.getPlotItem().getViewBox().viewPixelSize()
    off = (np.array(latent_map.edit_xy) - latent_map.current.xy[i]) / [width, height]
    assert np.hypot(*off) < 6


def test_clicking_the_linear_view_decodes_the_point_of_its_plane(window, qtbot):
    panel = window.map_panel
    panel.view_choice.activated.emit(panel.view_choice.findData("linear"))
    latent_map = panel.map
    assert latent_map.view == "linear" and latent_map.current.kind == "linear"
    assert "of the variance" in latent_map.getPlotItem().getAxis("bottom").labelText
    x0, x1, y0, y1 = latent_map.view_range()
    xy = (x0 + 0.7 * (x1 - x0), y0 + 0.3 * (y1 - y0))
    click_at(latent_map, xy)
    picked = window.session.map.forward(window.session.edit.current)
    assert picked == pytest.approx(xy, abs=0.02 * (x1 - x0))
    settle(qtbot, window)
    assert latent_map.edit_xy == pytest.approx(tuple(picked), abs=1e-4)


def test_interpolating_between_two_pinned_drawings_and_exporting_the_strip(window, qtbot, tmp_path):
    panel = window.interpolation_panel
    assert not window.interpolation.pin("a")                 # nothing drawn yet
    draw_digit(window.canvas, "7")
    settle(qtbot, window)
    assert window.interpolation.pin("a")
    window.document.clear()
    draw_digit(window.canvas, "3")
    settle(qtbot, window)
    panel.pin_b.click()
    settle(qtbot, window)
    strip = window.session.strip
    assert strip.shape == (8, 28, 28)
    assert panel.slider.isEnabled()
    assert not np.array_equal(strip[0], strip[-1])
    panel.set_t(0.0)
    settle(qtbot, window)
    np.testing.assert_array_equal(panel.mixed.pixels(), panel.strip[0].pixels())
    panel.set_t(1.0)
    settle(qtbot, window)
    np.testing.assert_array_equal(panel.mixed.pixels(), panel.strip[-1].pixels())

    png, gif = tmp_path / "strip.png", tmp_path / "strip.gif"
    assert window.exports.export_strip("png", str(png))
    window.dialogs.ask_save_path = lambda *args: str(gif)
    panel.export_gif.click()
    image = QImage(str(png))
    assert (image.width(), image.height()) == (8 * 112 + 7 * 4, 112)
    from PIL import Image

    with Image.open(gif) as animation:
        # 8 steps there and 6 back; Pillow merges identical neighbouring frames (adding
        # their durations), so count time rather than frames.
        durations = []
        for k in range(animation.n_frames):
            animation.seek(k)
            durations.append(animation.info["duration"])
        assert animation.n_frames >= 2 and animation.size == (112, 112)
        assert sum(durations) == 14 * 120  # the default 120 ms per step
        assert animation.info.get("loop") == 0
    assert not window.errors


def test_switching_models_rebuilds_the_latent_views(window, qtbot, tmp_path):
    from aegui import models

    draw_digit(window.canvas, "4")
    settle(qtbot, window)
    path = tmp_path / "vae-2.pt"
    models.save(make_model("vae", 2, seed=3), path)
    with qtbot.waitSignal(window.modelChanged, timeout=60000):
        window.dialogs.ask_open_path = lambda *args: str(path)
        window.models.open_checkpoint_action.trigger()
    info = window.session.info
    assert (info.kind, info.latent_dim, info.source) == ("vae", 2, str(path))
    assert window.latent_panel.bars.values.shape == (2,)
    # The map comes apart from the model: the latent plane of a 2-D code.
    qtbot.waitUntil(lambda: window.map_panel.map.getPlotItem().getAxis("bottom").labelText == "z₀")
    assert window.map_panel.map.current.kind == "plane" and not window.map_panel.view_choice.isEnabled()
    assert window.models.combo.currentText() == "vae-2.pt"
    assert window.models.labels["statusLatent"].text() == "z: 2"
    settle(qtbot, window)
    assert window.session.drawing.z.shape == (2,)     # the drawing was encoded again
    assert window.settings.last_model == str(path)
    assert not window.errors


def test_a_corrupt_checkpoint_shows_an_error_and_keeps_the_model(window, qtbot, tmp_path):
    info = window.session.info
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    window.models.open_model(str(path))
    qtbot.waitUntil(lambda: bool(window.errors), timeout=30000)
    title, text = window.errors[0]
    assert "corrupt.pt" in text and "current model stays" in text
    assert window.session.info is info
    draw_digit(window.canvas, "1")
    settle(qtbot, window)
    assert window.session.drawing.generation == info.generation


def test_the_status_bar_names_model_latent_size_backend_device_and_latency(window, qtbot):
    draw_digit(window.canvas, "8")
    settle(qtbot, window)
    assert window.models.labels["statusModel"].text().startswith(f"Model {window.session.info.name}")
    assert window.models.labels["statusLatent"].text() == "z: 16"
    assert window.models.labels["statusBackend"].text() in ("backend cpu", "backend reference")
    assert window.models.labels["statusDevice"].text() == "device cpu"
    assert float(window.latent_views.latency_label.text().split()[1]) > 0


def test_settings_survive_a_restart(qtbot, tmp_path, model):
    from aegui.gui import create_window
    from aegui.gui.settings import Settings

    path = tmp_path / "settings.ini"
    first = create_window(model, settings=Settings(path))
    qtbot.addWidget(first)
    first.resize(760, 560)     # within the offscreen screen (800 x 600)
    first.show()
    qtbot.waitUntil(lambda: first.session.info is not None, timeout=60000)
    first.tools.width_spin.setValue(57)
    size = first.size()
    first.close()
    assert path.exists()
    second = create_window(model, settings=Settings(path))
    qtbot.addWidget(second)
    second.show()
    assert second.canvas.pen_width == 57 and second.tools.width_spin.value() == 57
    assert second.size() == size
    qtbot.waitUntil(lambda: second.session.info is not None, timeout=60000)
    second.close()


def open_window(qtbot, model, settings_path):
    from aegui.gui import create_window
    from aegui.gui.settings import Settings

    win = create_window(model, settings=Settings(settings_path))
    win.errors = []
    win.dialogs.show_error = lambda title, text: win.errors.append((title, text))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.session.info is not None, timeout=60000)
    return win


def test_without_a_model_argument_the_last_model_opens_again(qtbot, tmp_path):
    from aegui import models
    from aegui.gui.settings import Settings

    path = tmp_path / "mine.pt"
    models.save(make_model("ae", 3, seed=1), path)
    Settings(tmp_path / "settings.ini").last_model = str(path)
    win = open_window(qtbot, None, tmp_path / "settings.ini")
    assert (win.session.info.source, win.session.info.latent_dim) == (str(path), 3)
    assert not win.errors
    win.close()


def test_a_model_argument_that_cannot_be_opened_says_so_and_opens_the_default(qtbot, tmp_path):
    missing = tmp_path / "missing.pt"
    win = open_window(qtbot, str(missing), tmp_path / "settings.ini")
    assert win.session.info.latent_dim == 16 and win.session.info.source is None
    assert len(win.errors) == 1 and str(missing) in win.errors[0][1]
    win.close()


def test_the_error_is_shown_next_to_the_models_mean_on_test_digits(qtbot, tmp_path):
    model = make_model(latent_dim=4)
    model.metrics = {"sse": 19.6, "bce": 0.1, "knn10_accuracy": 0.95}
    win = open_window(qtbot, model, tmp_path / "settings.ini")
    draw_digit(win.canvas, "7")
    settle(qtbot, win)
    assert win.network.error_label.text().endswith(" · test digits 0.0250")
    assert "knn10 accuracy 95.0%" in win.models.labels["statusModel"].toolTip()
    win.close()


def test_an_edit_still_being_decoded_when_reset_is_pressed_does_not_show_up(window, qtbot):
    draw_digit(window.canvas, "2")
    settle(qtbot, window)
    drawing_output = window.network.reconstruction.pixels()
    for value in (0.5, -0.5, 0.9):
        window.latent_views.edit(1, value)
    window.session.reset_edit()                      # before the decodes come back
    settle(qtbot, window)
    assert not window.session.edit.is_edited
    np.testing.assert_array_equal(window.network.reconstruction.pixels(), drawing_output)
    assert window.network.output_caption.text() == "Reconstruction"
