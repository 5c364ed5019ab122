"""Exports, read back: the drawing beside its reconstruction (PNG), the latent vector (CSV,
JSON), the latent map and the manifold grid (PNG); file dialogs remember the last folder."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from gui_helpers import draw_digit, settle
from PIL import Image
from PySide6.QtGui import QImage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from full_disk import fill_disk_after  # noqa: E402


def drawn(window, qtbot, digit="3"):
    draw_digit(window.canvas, digit)
    settle(qtbot, window)
    return window


def test_the_drawing_and_its_reconstruction_export_side_by_side(window, qtbot, tmp_path):
    drawn(window, qtbot)
    path = tmp_path / "pair.png"
    window.dialogs.ask_save_path = lambda *args: str(path)
    window.exports.images_action.trigger()
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (2 * 224 + 8, 224)
        pixels = np.asarray(image)
    big = np.ones((8, 8), np.uint8)
    frame = np.rint(window.session.drawing.frame * 255).astype(np.uint8)
    # As on screen: the offscreen palette's dark text on white paper.
    np.testing.assert_array_equal(pixels[:, :224], 255 - np.kron(frame, big))
    np.testing.assert_array_equal(pixels[:, 232:], 255 - np.kron(window.network.reconstruction.pixels(), big))
    assert (pixels[:, 224:232] == 255).all()
    assert not window.errors


def test_the_latent_vector_exports_as_csv_and_json(window, qtbot, tmp_path):
    drawn(window, qtbot)
    window.latent_views.edit(4, 1.25)
    current, own = window.session.edit.current.copy(), window.session.edit.drawing.copy()
    assert window.exports.export_latent("csv", str(tmp_path / "z.csv"))
    with open(tmp_path / "z.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["dim"]) for r in rows] == list(range(16))
    np.testing.assert_array_equal(np.array([r["z"] for r in rows], np.float32), current)
    np.testing.assert_array_equal(np.array([r["drawing_z"] for r in rows], np.float32), own)
    assert [r["edited"] for r in rows] == ["1" if i == 4 else "0" for i in range(16)]
    assert window.exports.export_latent("json", str(tmp_path / "z.json"))
    doc = json.loads((tmp_path / "z.json").read_text())
    assert doc["latent_dim"] == 16 and doc["edited"] == [4]
    assert doc["model"] == {"name": window.session.info.name, "kind": "ae", "source": None}
    np.testing.assert_array_equal(np.array(doc["z"], np.float32), current)
    np.testing.assert_array_equal(np.array(doc["drawing_z"], np.float32), own)


def test_nothing_is_exported_before_a_digit_is_drawn(window):
    asked = []
    window.dialogs.ask_save_path = lambda *args: asked.append(args) or ""
    assert not window.exports.export_latent("json") and not window.exports.export_images()
    assert asked == [] and window.statusBar().currentMessage() == "Draw a digit first"


def test_the_latent_map_and_the_manifold_grid_export_as_png(window, qtbot, tmp_path):
    drawn(window, qtbot)
    assert window.exports.export_map(str(tmp_path / "map.png"), width=900)
    image = QImage(str(tmp_path / "map.png"))
    plot = window.map_panel.map.getPlotItem().sceneBoundingRect()
    assert image.width() == 900 and abs(image.height() - 900 * plot.height() / plot.width()) <= 2
    assert len({image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}) > 5
    window.manifold_dock.raise_()
    qtbot.waitUntil(lambda: window.sweeps.manifold_panel.xy is not None)
    path = tmp_path / "manifold.png"
    window.dialogs.ask_save_path = lambda *args: str(path)
    window.sweeps.manifold_panel.export_button.click()
    with Image.open(path) as grid:
        assert grid.size == (12 * 56, 12 * 56)
        pixels = np.asarray(grid)
    shown = window.sweeps.manifold_panel.grid.pixels()
    np.testing.assert_array_equal(pixels[:56, 56:112], 255 - np.kron(shown[0, 1], np.ones((2, 2), np.uint8)))
    assert not window.errors


def test_file_dialogs_start_in_the_folder_used_last(window, qtbot, tmp_path):
    drawn(window, qtbot)
    folder = tmp_path / "exports"
    folder.mkdir()
    asked = []

    def dialog(title, filter_, suggestion):
        asked.append(suggestion)
        return str(folder / f"file{len(asked)}.{suggestion.rsplit('.', 1)[1]}")

    window.dialogs.ask_save_path = dialog
    window.exports.csv_action.trigger()
    window.exports.images_action.trigger()
    window.tools.save_drawing_action.trigger()
    assert asked == ["latent.csv", str(folder / "reconstruction.png"), str(folder / "drawing.png")]
    assert sorted(p.name for p in folder.iterdir()) == ["file1.csv", "file2.png", "file3.png"]
    window.write_settings()
    from aegui.gui.settings import Settings

    assert Settings(window.settings.file_name).last_folder == str(folder)   # remembered across runs


def test_an_export_that_cannot_be_written_says_so_and_leaves_nothing(window, qtbot, tmp_path):
    drawn(window, qtbot)
    target = tmp_path / "missing-folder" / "z.json"
    assert not window.exports.export_latent("json", str(target))
    assert window.errors and "z.json" in window.errors[0][1]
    assert not target.parent.exists()


def test_an_export_onto_a_full_disk_says_the_disk_is_full_and_leaves_nothing(window, qtbot, tmp_path, monkeypatch):
    drawn(window, qtbot)
    folder = tmp_path / "exports"
    folder.mkdir()
    fill_disk_after(monkeypatch, capacity=100)
    for export, name in ((window.exports.export_images, "pair.png"), (window.exports.export_map, "map.png"),
                         (lambda path: window.exports.export_latent("json", path), "z.json")):
        assert not export(str(folder / name))
        title, text = window.errors.pop()
        assert name in text and "No space left on device" in text and "encode" not in text, text
    assert list(folder.iterdir()) == []


def test_a_saved_drawing_gets_png_and_looks_like_the_canvas(window, qtbot, tmp_path):
    drawn(window, qtbot)
    folder = tmp_path / "saved"
    folder.mkdir()
    window.dialogs.ask_save_path = lambda *args: str(folder / "my-three")
    window.tools.save_drawing_action.trigger()
    assert [p.name for p in folder.iterdir()] == ["my-three.png"]
    with Image.open(folder / "my-three.png") as image:
        pixels = np.asarray(image)
    assert image.mode == "L" and pixels.shape == (512, 512)
    np.testing.assert_array_equal(pixels, 255 - window.document.raster())     # dark ink on light paper
    assert not window.errors


def test_exports_without_an_extension_get_the_formats(window, qtbot, tmp_path):
    drawn(window, qtbot)
    folder = tmp_path / "saved"
    folder.mkdir()
    assert window.exports.export_latent("csv", str(folder / "code"))
    assert window.exports.export_images(str(folder / "pair"))
    assert sorted(p.name for p in folder.iterdir()) == ["code.csv", "pair.png"]


def test_in_a_dark_palette_exports_are_light_on_dark_as_on_screen(window, qtbot, tmp_path, qapp):
    from PySide6.QtGui import QColor, QPalette

    before = qapp.palette()
    dark = QPalette(before)
    dark.setColor(QPalette.ColorRole.Base, QColor(30, 30, 30))
    dark.setColor(QPalette.ColorRole.Text, QColor(232, 232, 232))
    qapp.setPalette(dark)
    try:
        drawn(window, qtbot)
        assert window.tools.save_drawing(str(tmp_path / "dark.png"))
        assert window.exports.export_images(str(tmp_path / "pair.png"))
    finally:
        qapp.setPalette(before)
    with Image.open(tmp_path / "dark.png") as image:
        pixels = np.asarray(image)
    raster = window.document.raster()
    assert pixels[raster == 0].max() == 30 and pixels[raster == 255].min() == 232
    with Image.open(tmp_path / "pair.png") as image:
        assert np.asarray(image)[0, 0] == 30
