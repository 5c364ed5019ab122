"""The contents of the latent docks: the bar chart of z with its editor row, and the
latent map with the k-NN verdict. They lay out widgets; the window wires them."""

from __future__ import annotations

from PySide6.QtWidgets import (QDoubleSpinBox, QLabel, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from .plots import LatentBars, LatentMap
from .views import TextLine, hint_label, row

__all__ = ["LatentPanel", "MapPanel"]


class LatentPanel(QWidget):
    """``bars`` (the ``latentBars`` chart) over a row to type a value for one
    dimension (``dim_spin``, ``value_spin``) and the ``reset`` button."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.bars = LatentBars()
        self.dim_spin = QSpinBox()
        self.dim_spin.setObjectName("latentDimension")
        self.dim_spin.setPrefix("z[")
        self.dim_spin.setSuffix("]")
        self.dim_spin.setToolTip("The dimension to edit (or click its bar)")
        self.value_spin = QDoubleSpinBox()
        self.value_spin.setObjectName("latentValue")
        self.value_spin.setRange(-1000.0, 1000.0)
        self.value_spin.setDecimals(3)
        self.value_spin.setSingleStep(0.1)
        self.value_spin.setKeyboardTracking(False)   # decode on Enter, not per keystroke
        self.value_spin.setToolTip("Type a value for the chosen dimension")
        self.reset = QPushButton("Reset to drawing")
        self.reset.setObjectName("resetLatent")
        editor = row(QLabel("Edit"), self.dim_spin, QLabel("="), self.value_spin, 1, self.reset)
        _column(self, self.bars, editor, "Drag a bar to change one dimension; hover to read it.")


class MapPanel(QWidget):
    """``map`` (the ``latentMap`` plot) over the verdict (``aegui.verdict``) and its neighbours."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.map = LatentMap()
        self.guess_label = TextLine("Draw a digit", "Looks like an 8 (97% sure) · neighbours: 10 of 10 are 8s")
        self.guess_label.setObjectName("guessLabel")
        font = self.guess_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.guess_label.setFont(font)
        _column(self, self.map, self.guess_label, "Click the map to decode that point.")


def _column(box: QWidget, main: QWidget, below, hint: str) -> None:
    """Lay out ``main`` above ``below`` (a widget or a layout) and a muted hint line."""
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(main, 1)
    if isinstance(below, QWidget):
        layout.addWidget(below)
    else:
        layout.addLayout(below)
    layout.addWidget(hint_label(hint))
