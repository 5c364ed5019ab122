"""The contents of the latent docks: the bar chart of z with its editor row, and the
latent map with its view chooser and the k-NN verdict. They lay out widgets; the window
wires them."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QLabel, QPushButton, QSizePolicy, QSpinBox, QVBoxLayout,
                               QWidget)

from .map_view import LatentMap
from .plots import LatentBars
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
        # Says when an edited value lies outside what the data set's digits use.
        self.warning = TextLine("", "⚠ z[12] = −4.00 is outside what 99% of the digits use (−1.23 to 1.05)",
                                alignment=Qt.AlignmentFlag.AlignLeft)
        self.warning.setObjectName("latentWarning")
        editor = row(QLabel("Edit"), self.dim_spin, QLabel("="), self.value_spin, 1, self.reset)
        layout = _column(self, self.bars, editor, "Drag a bar to change one dimension; hover to read it. The grey "
                                                  "box behind each bar: the values 99% of the data set's digits have.")
        layout.insertWidget(2, self.warning)


class MapPanel(QWidget):
    """``map`` (the ``latentMap`` plot) under a row to choose its view (``view_choice``:
    ``viewChosen(name)``) and go back to its home range (``reset_view``), over the verdict
    (``aegui.verdict``) and its neighbours."""

    viewChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.map = LatentMap()
        self.view_choice = QComboBox()
        self.view_choice.setObjectName("mapView")
        self.view_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.view_choice.setToolTip("Neighbour map: near codes stay near (the clusters are the digits).\n"
                                    "Linear view: the code's two principal directions (most of the code hidden).")
        self.view_choice.activated.connect(lambda i: self.viewChosen.emit(self.view_choice.itemData(i)))
        self.reset_view = QPushButton("Reset view")
        self.reset_view.setObjectName("resetMapView")
        self.reset_view.setToolTip("Back to the whole map after zooming (wheel) or panning (drag)")
        self.reset_view.clicked.connect(self.map.reset_view)
        self.status = hint_label("")            # muted, yet readable (not a disabled label's 1.6:1)
        self.status.setObjectName("mapStatus")
        self.status.setWordWrap(False)
        # The status line gives way (its full text is its tooltip); the view names never do.
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.guess_label = TextLine("Draw a digit", "Edited code: Looks like an 8 (97% sure) · neighbours: 10 of 10 are 8s")
        self.guess_label.setObjectName("guessLabel")
        font = self.guess_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.guess_label.setFont(font)
        layout = _column(self, self.map, self.guess_label,
                         "Wheel: zoom; drag: pan; hover a dot to see its digit; click to decode that point.")
        bar = row(self.view_choice, self.status, self.reset_view)
        bar.setStretchFactor(self.status, 1)
        layout.insertLayout(0, bar)

    def set_layout(self, layout, waiting: bool = False) -> None:
        """Show a model's map (None: none yet, ``waiting`` for it to be laid out)."""
        self.map.set_layout(layout)
        self.view_choice.clear()
        for name, label in LatentMap.VIEWS.items():
            if layout is not None and name in layout.views:
                self.view_choice.addItem("Latent plane" if layout.views[name].kind == "plane" else label, name)
        self.view_choice.setEnabled(self.view_choice.count() > 1)
        self.view_choice.setCurrentIndex(max(self.view_choice.findData(self.map.view), 0))
        current = self.map.current
        text = (current.description if current is not None else
                "Laying out the latent map…" if waiting else "No reference digits for this model")
        self.status.setText(text)
        self.status.setToolTip(text)


def _column(box: QWidget, main: QWidget, below, hint: str) -> QVBoxLayout:
    """Lay out ``main`` above ``below`` (a widget or a layout) and a muted hint line."""
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(main, 1)
    if isinstance(below, QWidget):
        layout.addWidget(below)
    else:
        layout.addLayout(below)
    layout.addWidget(hint_label(hint))
    return layout
