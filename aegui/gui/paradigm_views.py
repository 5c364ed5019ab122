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

``ParadigmViews`` wires their docks to the session: the drawing is read (on the inference
thread, after the drawing itself, newest wins) only while at least one of them is on
screen, and only the parts on screen: PCA (a product of a few thousand numbers) always,
the zoo's models and the corruption when their docks show. While the pen moves it asks
at most every ``READING_INTERVAL_MS``, so that the reconstruction keeps its pace.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDockWidget, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider,
                               QVBoxLayout, QWidget)

from aegui.corruption import KINDS
from aegui.paradigm import DrawingReading, NoiseSetting

from .actions import Throttle
from .sweeps import any_shown, showing
from .views import ImageView, TextLine, hint_label

__all__ = ["LinearPanel", "NoisePanel", "ParadigmViews", "READING_INTERVAL_MS", "SizesPanel", "sse_text"]

NO_DRAWING = "Draw a digit"
READING_INTERVAL_MS = 100
STRENGTH_STEPS = 20          # the slider's steps from 0 to 1


def sse_text(value: float | None) -> str:
    """An error as the panels write it (the precision of ``aegui eval --drawing``)."""
    return "–" if value is None else f"SSE {value:.3f}"


class SquareView(ImageView):
    """An ImageView as tall as it is wide, so that its caption and value sit at its edges."""

    def __init__(self, name: str, minimum: int):
        super().__init__(name, minimum=minimum)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width


def _column(caption: TextLine, view: ImageView, value: TextLine) -> QVBoxLayout:
    """A caption, an image and its value, one above the other; columns side by side share
    the width evenly, whatever their texts (a long caption is elided, its tooltip whole)."""
    layout = QVBoxLayout()
    layout.setSpacing(2)
    for widget in (caption, view, value):
        if widget is not view:
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(widget)
    layout.addStretch(1)
    return layout


class LinearPanel(QWidget):
    """The model's reconstruction (``learned``) beside PCA's (``linear``), with their errors."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("linearPanel")
        self.learned = SquareView("learnedReconstruction", minimum=56)
        self.linear = SquareView("pcaReconstruction", minimum=56)
        self.learned_caption = TextLine("Autoencoder", "ae-16 (learned)")
        self.linear_caption = TextLine("PCA", "PCA, 16 components (linear)")
        self.learned_error = TextLine(NO_DRAWING, "SSE 000.000")
        self.linear_error = TextLine("", "SSE 000.000")
        self.learned_error.setObjectName("learnedError")
        self.linear_error.setObjectName("pcaError")
        columns = QHBoxLayout()
        columns.addLayout(_column(self.learned_caption, self.learned, self.learned_error), 1)
        columns.addLayout(_column(self.linear_caption, self.linear, self.linear_error), 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(columns, 1)
        layout.addWidget(hint_label("PCA keeps the directions of pixel space along which MNIST's digits vary most: "
                                    "the best a linear code of the same size can do; the autoencoder's code "
                                    "bends. SSE: squared error summed over the 784 pixels (784 × the MSE)."))

    def show_reading(self, reading: DrawingReading | None, name: str) -> None:
        """Show a reading of the drawing by model ``name`` (None: nothing drawn)."""
        self.learned_caption.setText(f"{name} (learned)")
        if reading is None or reading.empty:
            for view in (self.learned, self.linear):
                view.set_image(_blank())
            self.learned_error.setText(NO_DRAWING)
            self.linear_error.setText("")
            return
        self.learned.set_image(reading.reconstruction)
        self.learned_error.setText(sse_text(reading.error))
        if reading.pca_components is None:
            return                    # not asked for: what is shown stays
        if reading.pca_components:
            self.linear_caption.setText(f"PCA, k = {reading.pca_components} (linear)")
            self.linear_caption.setToolTip(f"PCA with {reading.pca_components} components, fitted on MNIST's "
                                           f"training digits: the best linear code of that size")
            self.linear.set_image(reading.pca_image)
            self.linear_error.setText(sse_text(reading.pca_error))
        else:
            self.linear_caption.setText("PCA (linear)")
            self.linear.set_image(_blank())
            self.linear_error.setText("no PCA fit of this code size")


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
        layout.addWidget(hint_label("The same drawing through the zoo's autoencoders of every code size, "
                                    "narrowest first: what a narrower bottleneck forgets."))

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
            view = SquareView(f"size{k}", minimum=40)
            caption, error = TextLine(f"code of {k}", "code of 30"), TextLine("", "SSE 000.000")
            caption.setToolTip(name)
            error.setObjectName(f"size{k}Error")
            self.views.append(view)
            self.captions.append(caption)
            self.errors.append(error)
            self.row.addLayout(_column(caption, view, error), 1)

    def show_reading(self, reading: DrawingReading | None) -> None:
        """Show the reading's row of code sizes (kept as it is when it has none)."""
        if reading is not None and not reading.empty and reading.sizes is None:
            return
        if reading is None or reading.empty:
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
        self.noisy = SquareView("noisyInput", minimum=56)
        self.cleaned = SquareView("noisyReconstruction", minimum=56)
        self.noisy_distance = TextLine(NO_DRAWING, "input: SSE 000.000")
        self.cleaned_distance = TextLine("", "output: SSE 000.000")
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
        columns.addLayout(_column(TextLine("Noisy input"), self.noisy, self.noisy_distance), 1)
        columns.addLayout(_column(TextLine("Its reconstruction"), self.cleaned, self.cleaned_distance), 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(controls)
        layout.addLayout(columns, 1)
        layout.addWidget(hint_label("Distances are to your clean drawing. A narrow code cannot copy its input: "
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
        """Show the reading's corrupted input and its reconstruction (kept as they are
        when it has none)."""
        if reading is not None and not reading.empty and reading.noise is None:
            return
        if reading is None or reading.empty:
            for view in (self.noisy, self.cleaned):
                view.set_image(_blank())
            self.noisy_distance.setText(NO_DRAWING)
            self.cleaned_distance.setText("")
            return
        self.noisy.set_image(reading.noisy)
        self.cleaned.set_image(reading.noisy_reconstruction)
        self.noisy_distance.setText(f"input: {sse_text(reading.noisy_distance)}")
        self.cleaned_distance.setText(f"output: {sse_text(reading.denoised_distance)}")


def _blank() -> np.ndarray:
    return np.zeros((28, 28), np.float32)


class ParadigmViews(QObject):
    """The three docks (their widgets: LinearPanel, SizesPanel, NoisePanel), wired to the
    session (see the module docstring)."""

    def __init__(self, parent: QObject, session, linear_dock: QDockWidget, sizes_dock: QDockWidget,
                 noise_dock: QDockWidget, interval_ms: int = READING_INTERVAL_MS):
        super().__init__(parent)
        self.session = session
        self.docks = (linear_dock, sizes_dock, noise_dock)
        self.linear: LinearPanel = linear_dock.widget()
        self.sizes: SizesPanel = sizes_dock.widget()
        self.noise: NoisePanel = noise_dock.widget()
        self._follow = Throttle(interval_ms, self.request, self)
        docks_shown = any_shown(*self.docks)
        session.drawing_changed.connect(lambda _result: docks_shown() and self._follow.poke())
        session.reading_changed.connect(self._show)
        session.model_changed.connect(lambda _info: self._show(None))
        self.noise.settingChanged.connect(self._follow.poke)
        for dock in self.docks:
            # A tab coming to the front is laid out after this signal: ask once that is done.
            dock.visibilityChanged.connect(lambda shown: shown and QTimer.singleShot(0, self.request))

    def request(self) -> None:
        """Read the drawing for the views on screen (nothing when none is)."""
        linear, sizes, noise = (showing(dock) for dock in self.docks)
        if linear or sizes or noise:
            self.session.request_reading(True, sizes, self.noise.setting if noise else None)

    def _show(self, reading) -> None:
        info = self.session.info
        self.linear.show_reading(reading, info.name if info is not None else "")
        self.sizes.show_reading(reading)
        self.noise.show_reading(reading)
