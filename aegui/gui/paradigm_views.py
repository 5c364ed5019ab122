"""The three views of the autoencoder paradigm, for the drawing on the canvas.

* ``LinearPanel``, *learned versus linear*: the model's reconstruction beside what PCA
  with as many components makes of the same frame, with both errors;
* ``SizesPanel``, *narrow versus wide*: the frame through the zoo's autoencoders of every
  code size, narrowest first, each with its error;
* ``NoisePanel``, *noise in, essence out*: a corruption (kind and strength) of what the
  network sees, the corrupted input beside the model's reconstruction of it, and the
  distance of each to the clean frame.

All numbers are SSE (squared error summed over the 784 pixels), from one
``aegui.paradigm.DrawingReading``: the numbers ``aegui eval --drawing`` prints for the
same drawing. The panels show what they are given and report the noise setting asked
for; they compute nothing.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout,
                               QWidget)

from aegui.corruption import KINDS
from aegui.paradigm import DrawingReading, NoiseSetting

from .views import ImageView, TextLine

__all__ = ["LinearPanel", "NoisePanel", "SizesPanel", "sse_text"]

NO_DRAWING = "Draw a digit"
STRENGTH_STEPS = 20          # the slider's steps from 0 to 1


def sse_text(value: float | None) -> str:
    """An error as the panels write it (the precision of ``aegui eval --drawing``)."""
    return "–" if value is None else f"SSE {value:.3f}"


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setEnabled(False)            # the palette's muted text
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def _column(caption: TextLine, view: ImageView, value: TextLine) -> QVBoxLayout:
    layout = QVBoxLayout()
    layout.setSpacing(2)
    for widget in (caption, view, value):
        layout.addWidget(widget, 1 if widget is view else 0)
    return layout


class LinearPanel(QWidget):
    """The model's reconstruction (``learned``) beside PCA's (``linear``), with their errors."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("linearPanel")
        self.learned = ImageView("learnedReconstruction", minimum=56)
        self.linear = ImageView("pcaReconstruction", minimum=56)
        self.learned_caption = TextLine("Autoencoder", "ae-16 (learned)")
        self.linear_caption = TextLine("PCA", "PCA, 16 components (linear)")
        self.learned_error = TextLine(NO_DRAWING, "SSE 000.000")
        self.linear_error = TextLine("", "SSE 000.000")
        self.learned_error.setObjectName("learnedError")
        self.linear_error.setObjectName("pcaError")
        columns = QHBoxLayout()
        columns.addLayout(_column(self.learned_caption, self.learned, self.learned_error))
        columns.addLayout(_column(self.linear_caption, self.linear, self.linear_error))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(columns, 1)
        layout.addWidget(_hint("PCA keeps the directions of pixel space along which MNIST's digits vary most: "
                               "the best a linear code of the same size can do. The autoencoder's code bends."))

    def show_reading(self, reading: DrawingReading | None, name: str) -> None:
        """Show a reading of the drawing by model ``name`` (None: nothing drawn)."""
        self.learned_caption.setText(f"{name} (learned)")
        if reading is None or reading.error is None:
            for view in (self.learned, self.linear):
                view.set_image(_blank())
            self.learned_error.setText(NO_DRAWING)
            self.linear_error.setText("")
            return
        self.learned.set_image(reading.reconstruction)
        self.learned_error.setText(sse_text(reading.error))
        if reading.pca_components:
            self.linear_caption.setText(f"PCA, {reading.pca_components} components (linear)")
            self.linear.set_image(reading.pca_image)
            self.linear_error.setText(sse_text(reading.pca_error))
        else:
            self.linear_caption.setText("PCA (linear)")
            self.linear.set_image(_blank())
            self.linear_error.setText("no PCA of this code size")


class SizesPanel(QWidget):
    """One column per code size: the zoo's autoencoder of that size on the drawing."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sizesPanel")
        self.views: list[ImageView] = []
        self.captions: list[TextLine] = []
        self.errors: list[TextLine] = []
        self._names: tuple[str, ...] = ()
        self.row = QHBoxLayout()
        self.status = TextLine(NO_DRAWING, "Loading the zoo's models of every code size…")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self.row, 1)
        layout.addWidget(self.status)
        layout.addWidget(_hint("The same drawing through the zoo's autoencoders of every code size, narrowest "
                               "first: what a narrower bottleneck forgets."))

    def _columns(self, names: tuple[str, ...], sizes: tuple[int, ...]) -> None:
        """Rebuild the columns for these models (only when the set changes)."""
        if names == self._names:
            return
        while self.row.count():
            item = self.row.takeAt(0)
            if item.layout() is not None:
                while item.layout().count():
                    item.layout().takeAt(0).widget().deleteLater()
        self._names = names
        self.views, self.captions, self.errors = [], [], []
        for name, k in zip(names, sizes):
            view = ImageView(f"size{k}", minimum=40)
            caption, error = TextLine(f"code of {k}", "code of 30"), TextLine("", "SSE 000.000")
            caption.setToolTip(name)
            error.setObjectName(f"size{k}Error")
            self.views.append(view)
            self.captions.append(caption)
            self.errors.append(error)
            self.row.addLayout(_column(caption, view, error))

    def show_reading(self, reading: DrawingReading | None) -> None:
        if reading is None or reading.error is None:
            for view, error in zip(self.views, self.errors):
                view.set_image(_blank())
                error.setText("")
            self.status.setText(NO_DRAWING)
            return
        self._columns(tuple(n for n, _k, _i, _e in reading.sizes), tuple(k for _n, k, _i, _e in reading.sizes))
        for (name, _k, image, error), view, label in zip(reading.sizes, self.views, self.errors):
            view.set_image(image)
            label.setText(sse_text(error))
        self.status.setText(" · ".join(n for n in self._names) if self._names else "No shipped models installed")


class NoisePanel(QWidget):
    """A corruption of what the network sees (kind and strength), the corrupted input
    beside the model's reconstruction of it, and the distance of each to the clean frame.
    ``settingChanged(NoiseSetting)`` when the user changes kind or strength."""

    settingChanged = Signal(object)

    def __init__(self, setting: NoiseSetting = NoiseSetting(), parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("noisePanel")
        self.kind = QComboBox()
        self.kind.setObjectName("noiseKind")
        self.kind.addItems(list(KINDS))
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setObjectName("noiseStrength")
        self.strength.setRange(0, STRENGTH_STEPS)
        self.strength.setPageStep(2)
        self.strength_label = TextLine("", "1.00", alignment=Qt.AlignmentFlag.AlignLeft)
        self._seed = setting.seed
        self.set_setting(setting)
        self.kind.currentIndexChanged.connect(self._changed)
        self.strength.valueChanged.connect(self._changed)
        self.noisy = ImageView("noisyInput", minimum=56)
        self.cleaned = ImageView("noisyReconstruction", minimum=56)
        self.noisy_distance = TextLine(NO_DRAWING, "input: SSE 000.000")
        self.cleaned_distance = TextLine("", "reconstruction: SSE 000.000")
        self.noisy_distance.setObjectName("noisyDistance")
        self.cleaned_distance.setObjectName("cleanedDistance")
        controls = QGridLayout()
        controls.addWidget(QLabel("Noise"), 0, 0)
        controls.addWidget(self.kind, 0, 1, 1, 2)
        controls.addWidget(QLabel("Strength"), 1, 0)
        controls.addWidget(self.strength, 1, 1)
        controls.addWidget(self.strength_label, 1, 2)
        controls.setColumnStretch(1, 1)
        columns = QHBoxLayout()
        columns.addLayout(_column(TextLine("What the network is shown"), self.noisy, self.noisy_distance))
        columns.addLayout(_column(TextLine("Its reconstruction"), self.cleaned, self.cleaned_distance))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(controls)
        layout.addLayout(columns, 1)
        layout.addWidget(_hint("Distances are to your clean drawing. A narrow code cannot copy its input: "
                               "what it cannot encode, noise it has not learned, it tends to leave out."))

    @property
    def setting(self) -> NoiseSetting:
        return NoiseSetting(KINDS[self.kind.currentIndex()], self.strength.value() / STRENGTH_STEPS, self._seed)

    def set_setting(self, setting: NoiseSetting) -> None:
        """Show ``setting`` in the controls (without reporting it as a change)."""
        self.kind.blockSignals(True)
        self.strength.blockSignals(True)
        self.kind.setCurrentIndex(KINDS.index(setting.kind))
        self.strength.setValue(round(setting.strength * STRENGTH_STEPS))
        self._seed = setting.seed
        self.kind.blockSignals(False)
        self.strength.blockSignals(False)
        self.strength_label.setText(f"{self.setting.strength:.2f}")

    def _changed(self) -> None:
        self.strength_label.setText(f"{self.setting.strength:.2f}")
        self.settingChanged.emit(self.setting)

    def show_reading(self, reading: DrawingReading | None) -> None:
        if reading is None or reading.noisy is None:
            for view in (self.noisy, self.cleaned):
                view.set_image(_blank())
            self.noisy_distance.setText(NO_DRAWING)
            self.cleaned_distance.setText("")
            return
        self.noisy.set_image(reading.noisy)
        self.cleaned.set_image(reading.noisy_reconstruction)
        self.noisy_distance.setText(f"input: {sse_text(reading.noisy_distance)}")
        self.cleaned_distance.setText(f"reconstruction: {sse_text(reading.denoised_distance)}")


def _blank() -> np.ndarray:
    return np.zeros((28, 28), np.float32)
