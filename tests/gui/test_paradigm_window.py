"""The paradigm's three views in the window, driven with real mouse events: each shows,
for the drawing on the canvas, the numbers ``aegui eval --drawing`` prints for that
drawing saved as PNG; they follow the pen; they cost nothing while no view shows; and they
are usable at 1024x700, at 100% and at 200% scaling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gui_helpers import drag, draw_digit, page_to_widget, settle
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QStyle, QStyleOptionSlider, QTabBar

from aegui import models
from aegui.cli import main
from aegui.drawings import write_png
from aegui.gui.paradigm_views import READING_INTERVAL_MS, sse_text
from aegui.gui.sweeps import showing

SMALL = (1024, 700)


def click_tab(window, title: str) -> None:
    """Bring a dock to the front by clicking its tab with the mouse."""
    for bar in window.findChildren(QTabBar):
        titles = [bar.tabText(i) for i in range(bar.count())]
        if title in titles and bar.isVisible():
            QTest.mouseClick(bar, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                             bar.tabRect(titles.index(title)).center())
            return
    raise AssertionError(f"no tab {title!r}")


def drag_handle(slider, to_x: int) -> None:
    """Drag a slider's handle with the mouse to ``to_x`` (slider coordinates)."""
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                           QStyle.SubControl.SC_SliderHandle, slider).center()
    drag(slider, [QPointF(handle), *(QPointF(x, handle.y()) for x in range(handle.x(), to_x, 8)),
                  QPointF(to_x, handle.y())])


def printed(tmp_path: Path, window, model, capsys, *extra: str) -> dict:
    """What ``aegui eval --drawing`` prints for the drawing on the canvas (saved as PNG) and
    the window's model (saved as a checkpoint)."""
    checkpoint = tmp_path / "model.pt"
    if not checkpoint.exists():
        models.save(model, checkpoint)
    png = tmp_path / "drawing.png"
    write_png(png, window.document.raster())
    capsys.readouterr()
    assert main(["eval", str(checkpoint), "--drawing", str(png), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def shown(qtbot, window, dock) -> None:
    qtbot.waitUntil(lambda: showing(dock))
    settle(qtbot, window)
    qtbot.wait(READING_INTERVAL_MS + 30)   # the views follow at most every READING_INTERVAL_MS
    settle(qtbot, window)


@pytest.fixture
def small_window(window):
    window.resize(*SMALL)
    return window


def test_learned_beside_linear_shows_both_errors_as_aegui_eval_prints_them(small_window, qtbot, model, tmp_path,
                                                                            capsys):
    window = small_window
    click_tab(window, "vs PCA")
    draw_digit(window.canvas, "3")
    shown(qtbot, window, window.linear_dock)
    panel = window.paradigm.linear
    expected = printed(tmp_path, window, model, capsys)
    assert panel.learned_error.text() == sse_text(expected["error"])
    assert panel.linear_error.text() == sse_text(expected["pca_error"])
    assert panel.linear_caption.text() == "PCA, k = 16 (linear)"
    assert panel.linear.pixels().any() and panel.learned.pixels().any()


def test_every_code_size_follows_the_pen(small_window, qtbot, model, tmp_path, capsys):
    window = small_window
    click_tab(window, "Sizes")
    draw_digit(window.canvas, "7")
    shown(qtbot, window, window.sizes_dock)
    panel = window.paradigm.sizes
    first = [label.text() for label in panel.errors]
    expected = printed(tmp_path, window, model, capsys)
    assert [c.text() for c in panel.captions] == ["code of 2", "code of 16", "code of 30"]
    assert first == [sse_text(expected["sizes"][n]) for n in ("ae-2", "ae-16", "ae-30")]
    # A stroke more: the row follows.
    drag(window.canvas, [page_to_widget(window.canvas, x, 400) for x in range(120, 400, 20)])
    shown(qtbot, window, window.sizes_dock)
    expected = printed(tmp_path, window, model, capsys)
    after = [label.text() for label in panel.errors]
    assert after != first and after == [sse_text(expected["sizes"][n]) for n in ("ae-2", "ae-16", "ae-30")]


def test_the_noise_control_shows_the_corrupted_input_and_its_reconstruction(small_window, qtbot, model, tmp_path,
                                                                            capsys):
    window = small_window
    click_tab(window, "Noise")
    draw_digit(window.canvas, "0")
    shown(qtbot, window, window.noise_dock)
    panel = window.paradigm.noise
    drag_handle(panel.strength, panel.strength.width() + 20)     # past the end: full strength
    assert panel.setting.strength == 1.0
    shown(qtbot, window, window.noise_dock)
    setting = panel.setting
    expected = printed(tmp_path, window, model, capsys, "--corruption", setting.kind, "--strength",
                       str(setting.strength), "--noise-seed", str(setting.seed))
    assert panel.noisy_distance.text() == f"input: {sse_text(expected['noise']['input'])}"
    assert panel.cleaned_distance.text() == f"output: {sse_text(expected['noise']['output'])}"
    assert window.session.reading.noise == setting


def test_no_view_in_front_costs_no_reading(window, qtbot):
    assert not any(showing(dock) for dock in (window.linear_dock, window.sizes_dock, window.noise_dock))
    draw_digit(window.canvas, "4")
    settle(qtbot, window)
    assert window.worker.served["reading"] == 0
    click_tab(window, "Noise")
    shown(qtbot, window, window.noise_dock)
    assert window.worker.served["reading"] >= 1


HIGH_DPI_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QTabBar
from aegui import models
from aegui.gui.app import ensure_app, settle, wait_until
from aegui.gui.main_window import create_window
from aegui.gui.settings import Settings
from gui_helpers import draw_digit
app = ensure_app()
window = create_window(models.create("ae", 16), settings=Settings(sys.argv[2] + "/s.ini"), data_dir=sys.argv[2])
window.resize(1024, 700)
window.show()
QTest.qWaitForWindowExposed(window)
assert wait_until(lambda: window.session.info is not None, timeout=120)
draw_digit(window.canvas, "2")
out = {"ratio": window.devicePixelRatioF()}
for title, dock, panel in (("vs PCA", window.linear_dock, window.paradigm.linear),
                           ("Sizes", window.sizes_dock, window.paradigm.sizes),
                           ("Noise", window.noise_dock, window.paradigm.noise)):
    bar = next(b for b in window.findChildren(QTabBar) if b.isVisible()
               and title in [b.tabText(i) for i in range(b.count())])
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     bar.tabRect([bar.tabText(i) for i in range(bar.count())].index(title)).center())
    settle(window); QTest.qWait(130); settle(window)
    views = [v for v in panel.findChildren(type(window.paradigm.linear.learned)) if v.isVisible()]
    texts = [t for t in panel.findChildren(type(window.paradigm.linear.learned_error))
             if t.isVisible() and t.text().startswith(("SSE", "input", "output"))]
    area = dock.rect()
    out[title] = {
        "views": len(views),
        "smallest": min(min(v.width(), v.height()) for v in views),
        "inside": all(area.contains(v.mapTo(dock, v.rect().bottomRight())) for v in views),
        "numbers": [t.text() for t in texts],
        "numbers_fit": all(t.fontMetrics().horizontalAdvance(t.text()) <= t.width() for t in texts),
    }
window.close()
print(json.dumps(out))
"""


@pytest.mark.parametrize("scale", ["1", "2"])
def test_the_views_are_usable_at_1024x700_at_100_and_200_percent(tmp_path, scale):
    here = Path(__file__).resolve().parent
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": scale,
           "PYTHONPATH": os.pathsep.join([str(here.parents[1]), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", HIGH_DPI_SCRIPT, str(here), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ratio"] == float(scale)
    for title, views in (("vs PCA", 2), ("Sizes", 3), ("Noise", 2)):
        found = out[title]
        assert found["views"] == views and found["inside"], (title, found)
        assert found["smallest"] >= 56, (title, found)          # at least 2 screen pixels per pixel
        assert len(found["numbers"]) == views and found["numbers_fit"], (title, found)
