"""The user's own handwriting in the app: collect mode's digit keys, the drawings browser,
fine-tuning on a background thread (progress, cancel, results, a new model to choose)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import draw_digit, settle
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest

from aegui import drawings, models
from aegui.models import ModelConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from drawn_digits import canvas_digit  # noqa: E402


def key(window, sequence: str) -> None:
    combo = QKeySequence(sequence)[0]
    QTest.keyClick(window, combo.key(), combo.keyboardModifiers())


@pytest.fixture
def active(window, qtbot):
    window.activateWindow()
    qtbot.waitActive(window)
    return window


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------------- collecting


def test_in_collect_mode_a_digit_key_saves_the_drawing_with_that_label_and_clears_it(active, qtbot):
    window = active
    key(window, "Ctrl+K")
    assert window.handwriting.collect_action.isChecked() and window.drawings_dock.isVisible()
    draw_digit(window.canvas, "7")
    canvas = window.canvas.raster()
    key(window, "7")
    saved = drawings.list_drawings(window.handwriting.drawings_dir)
    assert [s.label for s in saved] == [7]
    np.testing.assert_array_equal(saved[0].original(), canvas)
    assert saved[0].frame().shape == (28, 28) and saved[0].frame().max() == 255
    assert window.document.is_empty()                 # ready for the next one
    assert window.handwriting.panel.counts[7] == 1 and window.handwriting.panel.digit == 7
    assert len(window.handwriting.panel.samples()) == 1
    assert window.statusBar().currentMessage().startswith("Saved as a 7")
    key(window, "7")                                   # nothing drawn: nothing saved
    assert len(drawings.list_drawings(window.handwriting.drawings_dir)) == 1
    window.document.undo()                             # the cleared drawing comes back
    np.testing.assert_array_equal(window.canvas.raster(), canvas)


def test_digit_keys_save_nothing_outside_collect_mode_or_when_typed_into_a_field(active, qtbot):
    window = active
    draw_digit(window.canvas, "4")
    key(window, "4")
    assert files(window.handwriting.drawings_dir) == []
    window.handwriting.set_collect_mode(True)
    window.tools.width_spin.setFocus()
    qtbot.waitUntil(window.tools.width_spin.hasFocus)
    QTest.keyClick(window.tools.width_spin, Qt.Key.Key_4)   # the field gets the key, not collect mode
    assert files(window.handwriting.drawings_dir) == []
    window.handwriting.set_collect_mode(False)
    assert not any(act.isEnabled() for act in window.handwriting.digit_actions)


def test_the_browser_shows_the_drawings_per_digit_with_counts(window):
    root = window.handwriting.drawings_dir
    for digit, seed in (("3", 0), ("3", 1), ("7", 0)):
        drawings.save_drawing(root, int(digit), canvas_digit(digit, seed=seed))
    panel = window.handwriting.panel
    panel.refresh()
    assert [b.text() for b in panel.digit_buttons[3:8:4]] == ["3\n2", "7\n1"]
    panel.digit_buttons[3].click()
    assert [s.label for s in panel.samples()] == [3, 3]
    assert panel.total.text() == "3 drawings in all · 2 of a 3"
    icon = panel.list.item(0).icon()
    assert not icon.isNull() and icon.availableSizes()[0].width() == 56
    panel.digit_buttons[7].click()
    assert [s.label for s in panel.samples()] == [7]


def test_a_digit_folder_that_cannot_be_read_is_reported_in_the_browser_and_the_dialog(window, monkeypatch):
    root = window.handwriting.drawings_dir
    drawings.save_drawing(root, 6, canvas_digit("8"))
    real = os.listdir

    def listdir(folder="."):
        if str(folder) == str(root / "6"):
            raise PermissionError(13, "Permission denied", str(folder))
        return real(folder)

    monkeypatch.setattr(os, "listdir", listdir)
    panel = window.handwriting.panel
    panel.refresh(6)
    assert "cannot read the folder: Permission denied" in panel.total.text()
    assert panel.samples() == [] and not panel.fine_tune_button.isEnabled()
    dialog = window.handwriting.open_fine_tune()
    assert "cannot read the folder" in dialog.summary.text() and not dialog.start_button.isEnabled()
    assert dialog.start() is False
    dialog.close()


def test_deleting_selected_drawings_asks_removes_them_and_undo_brings_them_back(window, qtbot):
    root = window.handwriting.drawings_dir
    keep = drawings.save_drawing(root, 2, canvas_digit("2"))
    gone = drawings.save_drawing(root, 2, canvas_digit("2", seed=1))
    panel = window.handwriting.panel
    panel.refresh(2)
    assert not panel.delete_button.isEnabled() and not panel.undo_button.isEnabled()
    panel.list.item(1).setSelected(True)
    window.dialogs.confirm = lambda title, text: False          # "No": nothing happens
    panel.delete_button.click()
    assert drawings.list_drawings(root) == [keep, gone]
    asked = []
    window.dialogs.confirm = lambda title, text: asked.append(text) or True
    panel.delete_button.click()
    assert asked == ["Delete 1 drawing of a 2? Undo Delete brings them back."]
    assert drawings.list_drawings(root) == [keep]
    assert not gone.original_path.exists() and not gone.frame_path.exists()
    assert panel.counts[2] == 1 and panel.digit_buttons[2].text() == "2\n1"
    assert "Undo Delete" in window.statusBar().currentMessage()
    panel.undo_button.click()
    assert drawings.list_drawings(root) == [keep, gone] and panel.counts[2] == 2
    assert not panel.undo_button.isEnabled()


def test_drawings_deleted_are_gone_for_good_once_the_window_closes(window, qtbot):
    root = window.handwriting.drawings_dir
    sample = drawings.save_drawing(root, 8, canvas_digit("8"))
    panel = window.handwriting.panel
    panel.refresh(8)
    panel.list.item(0).setSelected(True)
    assert panel.delete_selected() == 1
    assert any((root / drawings.TRASH).rglob("*.png"))
    window.shutdown()
    assert not (root / drawings.TRASH).exists() and not sample.original_path.exists()


def test_the_delete_key_in_the_browser_deletes_drawings_not_the_canvas(active, qtbot):
    window = active
    drawings.save_drawing(window.handwriting.drawings_dir, 5, canvas_digit("3"))
    window.handwriting.panel.refresh(5)
    draw_digit(window.canvas, "1")
    canvas = window.canvas.raster()
    listing = window.handwriting.panel.list
    listing.setFocus()
    qtbot.waitUntil(listing.hasFocus)
    listing.item(0).setSelected(True)
    QTest.keyClick(listing, Qt.Key.Key_Delete)
    assert drawings.list_drawings(window.handwriting.drawings_dir) == []
    np.testing.assert_array_equal(window.canvas.raster(), canvas)
    QTest.keyClick(listing, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)   # undoes the deletion, not a stroke
    assert len(drawings.list_drawings(window.handwriting.drawings_dir)) == 1
    np.testing.assert_array_equal(window.canvas.raster(), canvas)


# ---------------------------------------------------------------------- fine-tuning


@pytest.fixture
def small_window(qtbot, tmp_path):
    """A window on a small MLP model (quick to fine-tune), with four drawings collected."""
    from aegui.gui import create_window
    from aegui.gui.settings import Settings

    model = models.create(config=ModelConfig(kind="ae", latent_dim=8, channels=(), hidden=(128,)), seed=1)
    win = create_window(model, settings=Settings(tmp_path / "settings.ini"), data_dir=tmp_path / "data")
    win.errors = []
    win.dialogs.show_error = lambda title, text: win.errors.append((title, text))
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: win.session.info is not None, timeout=60000)
    for digit, seed in (("1", 0), ("1", 1), ("8", 0), ("8", 1)):
        drawings.save_drawing(win.handwriting.drawings_dir, int(digit), canvas_digit(digit, seed=seed, width=28))
    yield win
    win.close()
    assert not win.worker.isRunning()


def test_fine_tuning_shows_progress_then_before_and_after_and_adds_a_model_to_choose(small_window, qtbot):
    window = small_window
    window.handwriting.panel.refresh()
    window.handwriting.panel.fine_tune_button.click()
    dialog = window.handwriting.fine_tune_dialog
    assert dialog.isVisible() and not dialog.isModal()
    assert dialog.summary.text().startswith("4 drawings (1: 2, 8: 2)")
    dialog.mnist_edit.setText("")
    dialog.steps_spin.setValue(60)
    seen = []
    with qtbot.waitSignal(dialog.modelSaved, timeout=120000) as saved:
        dialog.start_button.click()
        dialog.thread.progress.connect(seen.append)
        assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    result = dialog.result
    assert {"prepare", "done"} <= {s.event for s in seen} and {"step", "epoch"} & {s.event for s in seen}
    assert any(s.loss is not None and s.eta_s is not None for s in seen)
    assert dialog.bar.value() == dialog.bar.maximum()
    assert result.error_after.mean() < result.error_before.mean()
    grid = dialog.results
    assert grid.shape == (4, 3) and grid.column_labels == ["drawing", "before", "after"]
    assert grid.row_labels[0] == f"1: {result.error_before[0]:.4f} → {result.error_after[0]:.4f}"
    np.testing.assert_array_equal(grid.pixels()[:, 0], np.rint(result.frames * 255).astype(np.uint8))
    path = Path(saved.args[0])
    assert path == window.handwriting.models_dir / "ae-8-mine-1.pt" and files(window.handwriting.models_dir) == [path.name]
    # The new model is listed with the others, and one click opens it.
    assert window.models.combo.findData(str(path)) >= 0
    assert "ae-8-mine-1" in [a.text() for a in window.models.group.actions()]
    qtbot.waitUntil(lambda: not dialog.running)
    with qtbot.waitSignal(window.modelChanged, timeout=60000):
        dialog.use_button.click()
    assert window.session.info.source == str(path) and window.session.info.name == "ae-8-mine-1"
    assert window.models.combo.currentText() == "ae-8-mine-1"
    assert window.settings.last_model == str(path)
    assert not window.errors


def test_a_user_model_is_chosen_from_the_model_list_like_a_shipped_one(window, qtbot):
    from gui_helpers import make_model

    window.handwriting.models_dir.mkdir(parents=True)
    path = window.handwriting.models_dir / "ae-3-mine-1.pt"
    models.save(make_model("ae", 3, seed=4), path)
    window.models.refresh()
    index = window.models.combo.findText("ae-3-mine-1")
    assert index >= 0
    with qtbot.waitSignal(window.modelChanged, timeout=60000):
        window.models.combo.setCurrentIndex(index)
        window.models.combo.activated.emit(index)
    assert (window.session.info.source, window.session.info.latent_dim) == (str(path), 3)


def test_the_app_answers_while_fine_tuning_and_cancel_stops_it_within_a_second(small_window, qtbot):
    window = small_window
    dialog = window.handwriting.open_fine_tune()
    dialog.steps_spin.setValue(20000)
    steps = []
    dialog.start()
    dialog.thread.progress.connect(lambda s: s.event in ("step", "epoch") and steps.append(s))
    qtbot.waitUntil(lambda: bool(steps), timeout=60000)
    # The inference thread still follows the pen while the model trains.
    draw_digit(window.canvas, "3")
    settle(qtbot, window)
    assert window.network.model_input.pixels().any() and window.session.drawing.z is not None
    assert dialog.running
    asked = time.perf_counter()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=5000)
    assert time.perf_counter() - asked < 1.0
    qtbot.waitUntil(lambda: dialog.status.text() == "Cancelled: nothing was saved")
    assert dialog.result is None and files(window.handwriting.models_dir) == []
    assert dialog.start_button.isEnabled()


def test_closing_the_dialog_cancels_its_run(small_window, qtbot):
    dialog = small_window.handwriting.open_fine_tune()
    dialog.steps_spin.setValue(20000)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.last_status is not None, timeout=60000)
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.running, timeout=5000)
    assert dialog.result is None and files(small_window.handwriting.models_dir) == []


def test_mnist_that_cannot_be_read_is_reported_and_nothing_is_saved(small_window, qtbot, tmp_path):
    dialog = small_window.handwriting.open_fine_tune()
    dialog.mnist_edit.setText(str(tmp_path / "missing.npz"))
    assert "mixed with MNIST" in dialog.mode.text()
    dialog.start()
    qtbot.waitUntil(lambda: bool(dialog.error), timeout=60000)
    assert "missing.npz" in dialog.error and dialog.outcome.text() == dialog.error
    assert small_window.settings.data_path == str(tmp_path / "missing.npz")
    qtbot.waitUntil(lambda: not dialog.running)
    assert files(small_window.handwriting.models_dir) == []


def test_closing_the_window_while_fine_tuning_leaves_no_model_file(small_window, qtbot):
    window = small_window
    dialog = window.handwriting.open_fine_tune()
    dialog.steps_spin.setValue(20000)
    steps = []
    dialog.start()
    dialog.thread.progress.connect(lambda s: s.event in ("step", "epoch") and steps.append(s))
    qtbot.waitUntil(lambda: bool(steps), timeout=60000)
    thread = dialog.thread
    window.close()
    assert thread.isFinished()
    qtbot.wait(50)
    assert not window.handwriting.models_dir.exists() or os.listdir(window.handwriting.models_dir) == []
