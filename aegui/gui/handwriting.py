"""The user's own handwriting: collect mode, the "My drawings" dock and fine-tuning.

In collect mode the digit keys (actions with the shortcuts 0 to 9, enabled only in that
mode) save the drawing with that label in the user's drawings folder (``aegui.drawings``)
and clear the canvas for the next one. "Fine-tune on my drawings" opens the non-modal
``FineTuneDialog``, which trains a copy of the model in use (the inference thread hands
it out); the models it saves go to the user's models folder, which the model chooser
lists after the shipped models.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths
from PySide6.QtWidgets import QDockWidget, QLabel, QWidget

from aegui import drawings
from aegui.drawings import DrawingsError

from .actions import make_action
from .collect import DrawingsPanel
from .finetune_dialog import FineTuneDialog

__all__ = ["Handwriting", "default_data_dir"]


def default_data_dir() -> str:
    """The app's data folder (``QStandardPaths.AppDataLocation``): drawings/ and models/."""
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)


class Handwriting(QObject):
    """Collect mode and fine-tuning for ``window`` (the dialog's parent; the digit keys
    are its actions). ``raster()`` is what is saved, then ``document`` is cleared and
    ``canvas`` takes the keyboard for the next one;
    ``chooser`` (a ModelChooser) lists and opens the models fine-tuning makes;
    ``copy_model()`` is a future of a copy of the model in use."""

    def __init__(self, window: QWidget, session, canvas: QWidget, document, raster: Callable, data_dir: Path,
                 settings, dialogs, tell: Callable[[str, int], None], chooser, copy_model: Callable[[], Future]):
        super().__init__(window)
        self.window, self.session, self.canvas, self.document, self.raster = window, session, canvas, document, raster
        self.drawings_dir, self.models_dir = Path(data_dir) / "drawings", Path(data_dir) / "models"
        self.settings, self.dialogs, self.tell, self.chooser, self.copy_model = settings, dialogs, tell, chooser, copy_model
        self.fine_tune_dialog: FineTuneDialog | None = None
        self.collect_action = make_action(self, "Collect Mode", self.set_collect_mode, ["Ctrl+K"],
                                          "Save drawings of your own with the digit keys", checkable=True)
        self.digit_actions = [make_action(self, f"Save Drawing as {d}", lambda _=False, d=d: self.collect(d), [str(d)],
                                          f"Save the drawing as a {d} and clear the canvas") for d in range(10)]
        for act in self.digit_actions:
            act.setEnabled(False)      # until collect mode is on
        window.addActions(self.digit_actions)
        self.fine_tune_action = make_action(self, "Fine-tune on My Drawings…", lambda: self.open_fine_tune(), [],
                                            "Teach the model your handwriting")
        self.panel = DrawingsPanel(self.drawings_dir, confirm=lambda title, text: self.dialogs.confirm(title, text))
        self.panel.set_collect_action(self.collect_action)
        self.panel.fineTuneRequested.connect(lambda: self.open_fine_tune())
        self.panel.changed.connect(self._drawings_changed)
        self.dock: QDockWidget | None = None    # the panel's, once the window docks it
        self.collect_label = QLabel("Collect mode: press 0–9 to save")
        self.collect_label.setObjectName("statusCollect")
        self.collect_label.setVisible(False)

    # ------------------------------------------------------------------ collecting

    def set_collect_mode(self, on: bool) -> None:
        """In collect mode the digit keys save the drawing with that label."""
        on = bool(on)
        self.collect_action.setChecked(on)
        for act in self.digit_actions:
            act.setEnabled(on)
        self.collect_label.setVisible(on)
        if on:
            if self.dock is not None:
                self.dock.show()
                self.dock.raise_()
            self.canvas.setFocus()
            self.tell("Collect mode: draw a digit, then press its key (0–9)", 5000)

    def collect(self, label: int):
        """Save the drawing as a ``label`` and clear the canvas; the Sample, or None when
        there is nothing to save."""
        try:
            sample = drawings.save_drawing(self.drawings_dir, label, self.raster())
        except DrawingsError as err:
            self.tell(str(err).capitalize(), 5000)
            return None
        except OSError as err:
            self.dialogs.show_error("Cannot save the drawing", f"{self.drawings_dir}: {err}")
            return None
        self.document.clear()
        self.panel.refresh(label)
        if self.fine_tune_dialog is not None:
            self.fine_tune_dialog.refresh()
        self.tell(f"Saved as a {label}: {self.panel.counts[label]} of that digit so far", 5000)
        return sample

    def _drawings_changed(self, what: str) -> None:
        if self.fine_tune_dialog is not None:
            self.fine_tune_dialog.refresh()
        self.tell(what, 5000)

    # ------------------------------------------------------------------ fine-tuning

    def open_fine_tune(self) -> FineTuneDialog:
        """Show the fine-tune dialog (non-modal: the app stays usable while it trains)."""
        dialog = self.fine_tune_dialog
        if dialog is None:
            dialog = FineTuneDialog(self.window, self.drawings_dir, self.models_dir, self.settings,
                                    self._model_name, self.copy_model, self.session.device)
            dialog.modelSaved.connect(self._fine_tuned_model_saved)
            dialog.useRequested.connect(self.chooser.open_model)
            self.fine_tune_dialog = dialog
        if not dialog.running:
            dialog.device = self.session.device
        dialog.refresh()
        dialog.show()
        dialog.raise_()
        return dialog

    def _model_name(self) -> str | None:
        info = self.session.info
        return info.name if info is not None else None

    def _fine_tuned_model_saved(self, path: str) -> None:
        self.chooser.refresh()
        self.tell(f"Saved the fine-tuned model {os.path.basename(path)}", 10000)

    def stop_fine_tuning(self) -> None:
        """Cancel a run in progress and wait for it (idempotent): it saves nothing."""
        if self.fine_tune_dialog is not None:
            self.fine_tune_dialog.shutdown()

    def shutdown(self) -> None:
        """The window closes: stop fine-tuning, empty the drawings' trash (idempotent)."""
        self.stop_fine_tuning()
        self.panel.close_trash()
