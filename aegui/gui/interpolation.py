"""Interpolation between two pinned drawings: the panel, and its wiring to the session.

The panel shows the pins A and B, a slider for t, the code (1 - t) zA + t zB decoded,
and a strip of ``Interpolation.STEPS`` images from A to B. The state (the pins, t) lives
in the session (``aegui.session.Interpolation``); the panel only shows it and reports
what the user does. The strip's export is the export menu's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from aegui.session import Interpolation

from .actions import make_action
from .views import ImageView

__all__ = ["InterpolationPanel", "InterpolationView"]

SLIDER_STEPS = 100


class InterpolationPanel(QWidget):
    """Pin A, pin B, mix them with a slider, and export the strip."""

    pinRequested = Signal(str)       # "a" or "b"
    mixChanged = Signal(float)       # t in [0, 1]
    exportRequested = Signal(str)    # "png" or "gif"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("interpolation")
        self.pin_a = QPushButton("Pin A")
        self.pin_b = QPushButton("Pin B")
        for button, which in ((self.pin_a, "a"), (self.pin_b, "b")):
            button.setToolTip(f"Use the current drawing as {which.upper()}")
            button.clicked.connect(lambda _=False, w=which: self.pinRequested.emit(w))
        self.view_a = ImageView("pinA", minimum=56)
        self.view_b = ImageView("pinB", minimum=56)
        self.mixed = ImageView("interpolated", minimum=56)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("mixSlider")
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setValue(SLIDER_STEPS // 2)
        self.slider.valueChanged.connect(self._slid)
        self.t_label = QLabel()
        self.t_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.strip = [ImageView(f"step{i}", minimum=36) for i in range(Interpolation.STEPS)]
        self.export_png = QPushButton("Export PNG…")
        self.export_gif = QPushButton("Export GIF…")
        self.export_png.clicked.connect(lambda: self.exportRequested.emit("png"))
        self.export_gif.clicked.connect(lambda: self.exportRequested.emit("gif"))
        self.hint = QLabel("Pin two drawings to interpolate between their codes.")
        self.hint.setWordWrap(True)

        for view in (self.view_a, self.view_b):
            view.setMaximumSize(96, 96)
        top = QGridLayout()
        top.addWidget(self.pin_a, 0, 0)
        top.addWidget(self.view_a, 1, 0, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        top.addWidget(self.mixed, 0, 1, 2, 1)
        top.addWidget(self.pin_b, 0, 2)
        top.addWidget(self.view_b, 1, 2, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        top.addWidget(self.slider, 2, 0, 1, 3)
        top.addWidget(self.t_label, 3, 0, 1, 3)
        top.setColumnStretch(1, 1)
        top.setRowStretch(1, 1)
        strip = QHBoxLayout()
        strip.setSpacing(2)
        for view in self.strip:
            strip.addWidget(view)
        buttons = QHBoxLayout()
        buttons.addWidget(self.hint, 1)
        buttons.addWidget(self.export_png)
        buttons.addWidget(self.export_gif)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top, 3)
        layout.addLayout(strip, 1)
        layout.addLayout(buttons)
        self._slid(self.slider.value())
        self.set_ready(False)

    @property
    def t(self) -> float:
        return self.slider.value() / SLIDER_STEPS

    def set_t(self, t: float) -> None:
        self.slider.setValue(round(min(max(t, 0.0), 1.0) * SLIDER_STEPS))

    def set_pin(self, which: str, frame) -> None:
        view = self.view_a if which == "a" else self.view_b
        view.set_image(np.zeros((28, 28)) if frame is None else frame)

    def set_ready(self, ready: bool) -> None:
        for widget in (self.slider, self.export_png, self.export_gif):
            widget.setEnabled(ready)
        self.hint.setVisible(not ready)
        if not ready:
            self.mixed.set_image(np.zeros((28, 28)))
            for view in self.strip:
                view.set_image(np.zeros((28, 28)))

    def set_strip(self, images) -> None:
        for view, image in zip(self.strip, images):
            view.set_image(image)

    def _slid(self, value: int) -> None:
        t = value / SLIDER_STEPS
        self.t_label.setText(f"t = {t:.2f}")
        self.mixChanged.emit(t)


# ---------------------------------------------------------------------- wiring


class InterpolationView(QObject):
    """Shows the session's pins, mix and strip in ``panel`` and sends it the user's pins
    and mixes; ``tell(text, ms)`` puts a message in the status bar."""

    def __init__(self, parent: QObject, session, panel: InterpolationPanel, tell: Callable[[str, int], None]):
        super().__init__(parent)
        self.session, self.panel, self.tell = session, panel, tell
        self.pin_a_action = make_action(self, "Pin as A", lambda: self.pin("a"), ["Ctrl+1"], "Pin the drawing as A")
        self.pin_b_action = make_action(self, "Pin as B", lambda: self.pin("b"), ["Ctrl+2"], "Pin the drawing as B")
        panel.pinRequested.connect(self.pin)
        panel.mixChanged.connect(session.set_mix)
        session.model_changed.connect(lambda _info: self._pins_changed())
        session.pins_changed.connect(self._pins_changed)
        session.mix_changed.connect(panel.mixed.set_image)
        session.strip_changed.connect(panel.set_strip)

    def pin(self, which: str) -> bool:
        """Pin the code shown as A or B (with the drawing's frame)."""
        if not self.session.pin(which):
            self.tell("Draw a digit first, then pin it", 5000)
            return False
        return True

    def _pins_changed(self) -> None:
        mix = self.session.interpolation
        for which, pin, view in (("a", mix.a, self.panel.view_a), ("b", mix.b, self.panel.view_b)):
            self.panel.set_pin(which, pin.frame if pin is not None else None)
            view.setToolTip("" if pin is None else
                            f"{which.upper()}: an edited code, decoded" if pin.edited else
                            f"{which.upper()}: the drawing, as the network saw it")
        self.panel.set_ready(mix.ready)
