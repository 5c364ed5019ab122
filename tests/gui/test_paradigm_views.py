"""The paradigm's three panels: they show a reading's images and numbers as given, and the
noise control reports what the user sets with the mouse."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from aegui import paradigm
from aegui.gui.paradigm_views import LinearPanel, NoisePanel, SizesPanel, sse_text
from aegui.pca import fit



class Echo:
    """Gives back what it is shown, a little dimmed (so that errors are not zero)."""

    def __init__(self, latent_dim: int):
        import torch

        self.latent_dim, self._p = latent_dim, torch.zeros(1)

    def parameters(self):
        yield self._p

    def reconstruct(self, x):
        import torch

        return torch.zeros(len(x), self.latent_dim), x * 0.9


@pytest.fixture(scope="module")
def reading():
    rng = np.random.default_rng(3)
    images = np.zeros((100, 28, 28), np.uint8)
    for image in images:                     # a bar each, of random place and size
        top, left, h, w = rng.integers(4, 10, 4)
        image[top:top + 2 * h, left:left + w] = 255
    frame = images[0] / np.float32(255)
    return paradigm.read_drawing(frame, Echo(4), fit(images, 6), sizes=[("ae-2", Echo(2)), ("ae-16", Echo(16))],
                                 noise=paradigm.NoiseSetting("blur", 0.5))


def test_the_panels_show_the_readings_images_and_errors(qtbot, reading):
    linear, sizes, noise = LinearPanel(), SizesPanel(), NoisePanel()
    for panel in (linear, sizes, noise):
        qtbot.addWidget(panel)
        panel.show()
    linear.show_reading(reading, "echo")
    sizes.show_reading(reading)
    noise.show_reading(reading)
    assert linear.learned_error.text() == sse_text(reading.error)
    assert linear.linear_error.text() == sse_text(reading.pca_error)
    assert linear.linear_caption.text() == "PCA, k = 4 (linear)"
    assert np.array_equal(linear.linear.pixels(), np.rint(reading.pca_image * 255).astype(np.uint8))
    assert [e.text() for e in sizes.errors] == [sse_text(e) for _n, _k, _i, e in reading.sizes]
    assert [c.text() for c in sizes.captions] == ["code of 2", "code of 16"]
    assert noise.noisy_distance.text() == f"input: {sse_text(reading.noisy_distance)}"
    assert noise.cleaned_distance.text() == f"output: {sse_text(reading.denoised_distance)}"
    for panel in (sizes, noise):
        panel.show_reading(None)
    linear.show_reading(None, "echo")
    assert linear.learned_error.text() == noise.noisy_distance.text() == "Draw a digit"
    assert not linear.learned.pixels().any()


def test_dragging_the_strength_slider_reports_the_new_setting(qtbot):
    panel = NoisePanel(paradigm.NoiseSetting("occlusion", 0.0, seed=4))
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    qtbot.waitExposed(panel)
    seen = []
    panel.settingChanged.connect(seen.append)
    slider = panel.strength
    handle = QPoint(4, slider.height() // 2)
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, handle)
    QTest.mouseMove(slider, QPoint(slider.width() - 2, slider.height() // 2))
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       QPoint(slider.width() - 2, slider.height() // 2))
    assert seen and seen[-1] == paradigm.NoiseSetting("occlusion", 1.0, seed=4)
    assert panel.strength_label.text() == "1.00"
