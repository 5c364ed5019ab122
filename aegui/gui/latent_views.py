"""The views that follow the drawing, wired to the session: what the network sees and
its reconstruction with the error, the latent bars with their editor row, the latent map
with the verdict, and the status bar's latency.

The model input and the reconstruction follow every answer. The bars, the map's star and
the verdict follow at most every ``SECONDARY_INTERVAL_MS``: faster than the eye reads
them, and each repaint of a plot costs the UI thread more than a frame of the canvas.
The numbers (the error and the latency lines) follow at most every ``NUMBERS_INTERVAL_MS``:
a number that changes thirty times a second cannot be read, and each new one is laid
out and painted again. What the user edits shows at once.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject

from aegui import traversal

from .actions import Throttle, make_action
from .views import TextLine

__all__ = ["LatentViews", "NUMBERS_INTERVAL_MS", "SECONDARY_INTERVAL_MS"]

SECONDARY_INTERVAL_MS = 33
NUMBERS_INTERVAL_MS = 100


class LatentViews(QObject):
    """Shows ``session`` in ``network`` (NetworkPanel), ``latent`` (LatentPanel) and
    ``map_panel`` (MapPanel); sends the user's edits of the code to the session."""

    def __init__(self, parent: QObject, session, network, latent, map_panel):
        super().__init__(parent)
        self.session, self.network = session, network
        self.bars, self.dim_spin, self.value_spin = latent.bars, latent.dim_spin, latent.value_spin
        self.map_panel = map_panel
        self.warning = latent.warning
        self.map, self.guess_label = map_panel.map, map_panel.guess_label
        # Seconds each placing of the drawing's code on the map took (``aegui bench app``).
        self.place_seconds: list[float] = []
        self.latency_label = TextLine("", "update 000.0 ms")
        self.latency_label.setObjectName("statusLatency")
        self.reset_action = make_action(self, "Reset to Drawing", session.reset_edit, ["Ctrl+R"],
                                        "Forget edits of the code: show the drawing's own code")
        self._secondary = Throttle(SECONDARY_INTERVAL_MS, self._update_secondary, self)
        self._numbers = Throttle(NUMBERS_INTERVAL_MS, self._update_numbers, self)
        latent.reset.clicked.connect(session.reset_edit)
        self.bars.valueEdited.connect(self.edit)
        self.bars.dimensionSelected.connect(self.dim_spin.setValue)
        self.dim_spin.valueChanged.connect(self._sync_value_spin)
        self.value_spin.valueChanged.connect(lambda v: self.edit(self.dim_spin.value(), v))
        self.map.pointPicked.connect(session.pick)
        map_panel.viewChosen.connect(session.show_map_view)
        session.model_changed.connect(self._model_changed)
        session.map_changed.connect(self._map_changed)
        session.drawing_changed.connect(self._drawing_changed)
        session.output_changed.connect(self._output_changed)
        session.code_changed.connect(self._code_changed)

    def edit(self, dim: int, value: float) -> None:
        """Set one dimension of the code; the editor row shows the dimension edited."""
        if self.session.edit_value(dim, value):
            self.dim_spin.setValue(dim)

    # ------------------------------------------------------------------ what the session says

    def _model_changed(self, info) -> None:
        self.bars.set_dimensions(info.latent_dim, info.z_limit)
        self.bars.set_usual_range(traversal.usual_range(info.codes))
        self.bars.set_highlight(None)
        self.warning.setText("")
        self.dim_spin.setRange(0, info.latent_dim - 1)
        self.map_panel.set_layout(None, waiting=info.codes is not None)
        sse = info.metrics.get("sse")
        self.network.typical_error = float(sse) / 784 if isinstance(sse, int | float) else None
        self.network.model_input.set_image(np.zeros((28, 28)))
        self.network.reconstruction.set_image(np.zeros((28, 28)))
        self.network.set_error(None)
        self.guess_label.setText("Draw a digit")

    def _map_changed(self, layout) -> None:
        self.map_panel.set_layout(layout)
        output = self.session.output
        if output is not None and output.edited:
            self._place_edit(output)
        self._secondary.poke()

    def _drawing_changed(self, result) -> None:
        self.network.model_input.set_image(result.frame, result.seq)
        self._secondary.poke()

    def _output_changed(self, output) -> None:
        self.network.reconstruction.set_image(output.image, output.seq)
        if output.edited:
            self.network.set_error(output.error, edited=True)
            self._place_edit(output)
            self._show_verdict()
        else:
            self._secondary.poke()

    def _code_changed(self) -> None:
        edit = self.session.edit
        self.bars.set_values(edit.current, edit.edited, edit.drawing)
        self._warn(edit)
        if not edit.is_edited:
            self.map.set_edit_marker(None)
            output = self.session.output
            self.network.set_error(output.error if output is not None else None)
        self._sync_value_spin()

    def _place_edit(self, output) -> None:
        layout = self.session.map
        self.map.set_edit_marker(layout.forward(output.code) if layout is not None else None)

    def _update_secondary(self) -> None:
        """Bars, the map's star, the verdict, error and latency for the newest answer."""
        session = self.session
        drawing, edit, output = session.drawing, session.edit, session.output
        if session.info is None:
            return
        self.bars.set_values(edit.current, edit.edited, edit.drawing)
        self._warn(edit)
        layout = session.map
        z = drawing.z if drawing is not None else None
        self.map.set_marker(self._place(layout, z) if layout is not None and z is not None else None)
        if not edit.is_edited:
            self.map.set_edit_marker(None)
        elif output is not None and output.edited:
            self._place_edit(output)
        if self._panel_shows():           # else when the panel comes to the front (panel_shown)
            self._sync_value_spin()
        self._show_verdict()
        self._numbers.poke()

    def panel_shown(self, shown: bool) -> None:
        """The latent panel (bars and editor row) came to the front, or went behind a tab."""
        if shown:
            self._sync_value_spin()

    def _panel_shows(self) -> bool:
        return not self.bars.viewport().visibleRegion().isEmpty()

    def _update_numbers(self) -> None:
        """The error and latency lines for the newest answer."""
        output, latency = self.session.output, self.session.latency_ms
        if output is not None and not output.edited:
            self.network.set_error(output.error)
        if latency is not None:
            self.latency_label.setText(f"update {latency:.1f} ms")

    def _show_verdict(self) -> None:
        """The verdict on the code shown: the drawing's, or an edited code's."""
        drawing, output = self.session.drawing, self.session.output
        if drawing is None or (drawing.z is None and drawing.guess is None):
            self.guess_label.setText("Draw a digit")
        elif drawing.z is not None and output is not None and output.edited:
            guess = output.guess
            self.guess_label.setText(f"Edited code: {guess.describe()}" if guess is not None else "Edited code")
        else:
            self.guess_label.setText(drawing.guess.describe() if drawing.guess is not None else "Draw a digit")

    def _place(self, layout, z) -> np.ndarray:
        """The drawing's point on the map (timed: the star's budget is half a millisecond)."""
        started = time.perf_counter()
        xy = layout.forward(z)
        self.place_seconds.append(time.perf_counter() - started)
        if len(self.place_seconds) > 100_000:
            del self.place_seconds[:50_000]
        return xy

    def _warn(self, edit) -> None:
        """Say so when an edited value lies outside its dimension's usual range."""
        usual = self.bars.usual
        far = traversal.far_out(edit.current, usual, edit.edited) if edit.is_edited else []
        if not far:
            self.warning.setText("")
            return
        d = far[0]
        more = f" (and {len(far) - 1} more)" if len(far) > 1 else ""
        self.warning.setText(f"⚠ z[{d}] = {edit.current[d]:+.2f} is outside what 99% of the digits use "
                             f"({usual[0][d]:+.2f} to {usual[1][d]:+.2f}){more}: the decoding may be noise")

    def _sync_value_spin(self, *_args) -> None:
        dim, edit = self.dim_spin.value(), self.session.edit
        if 0 <= dim < edit.latent_dim:
            value = round(float(edit.current[dim]), self.value_spin.decimals())
            if self.value_spin.value() != value:
                self.value_spin.blockSignals(True)
                self.value_spin.setValue(value)
                self.value_spin.blockSignals(False)
