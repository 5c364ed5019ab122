"""The main window's handwriting features: collect mode, fine-tuning, the user's models.

A mixin of ``MainWindow``. In collect mode the digit keys (actions with the shortcuts 0 to
9, enabled only in that mode) save the canvas with that label in the user's drawings
folder (``aegui.drawings``) and clear it for the next one. "Fine-tune on my drawings"
opens the non-modal ``FineTuneDialog``; the models it saves go to the user's models
folder, which the model chooser lists after the shipped models.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QStandardPaths

from aegui import drawings, user_models
from aegui.drawings import DrawingsError

from .finetune_dialog import FineTuneDialog

__all__ = ["HandwritingMixin", "default_data_dir"]


def default_data_dir() -> str:
    """The app's data folder (``QStandardPaths.AppDataLocation``): drawings/ and models/."""
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)


class HandwritingMixin:
    """Collect mode, the fine-tune dialog and the user's models, for ``MainWindow``."""

    fine_tune_dialog: FineTuneDialog | None = None

    # ------------------------------------------------------------------ collecting

    def set_collect_mode(self, on: bool) -> None:
        """In collect mode the digit keys save the drawing with that label."""
        on = bool(on)
        self.collect_action.setChecked(on)
        for act in self.collect_actions:
            act.setEnabled(on)
        self.collect_label.setVisible(on)
        if on:
            self.drawings_dock.show()
            self.drawings_dock.raise_()
            self.canvas.setFocus()
            self.statusBar().showMessage("Collect mode: draw a digit, then press its key (0–9)", 5000)

    def collect(self, label: int):
        """Save the drawing as a ``label`` and clear the canvas; the Sample, or None when
        there is nothing to save."""
        try:
            sample = drawings.save_drawing(self.drawings_dir, label, self.canvas.raster())
        except DrawingsError as err:
            self.statusBar().showMessage(str(err).capitalize(), 5000)
            return None
        except OSError as err:
            self.show_error("Cannot save the drawing", f"{self.drawings_dir}: {err}")
            return None
        self.document.clear()
        self.drawings_panel.refresh(label)
        if self.fine_tune_dialog is not None:
            self.fine_tune_dialog.refresh()
        count = self.drawings_panel.counts[label]
        self.statusBar().showMessage(f"Saved as a {label}: {count} of that digit so far", 5000)
        return sample

    def _drawings_deleted(self) -> None:
        if self.fine_tune_dialog is not None:
            self.fine_tune_dialog.refresh()
        self.statusBar().showMessage("Deleted", 3000)

    # ------------------------------------------------------------------ fine-tuning

    def open_fine_tune(self) -> FineTuneDialog:
        """Show the fine-tune dialog (non-modal: the app stays usable while it trains)."""
        dialog = self.fine_tune_dialog
        if dialog is None:
            dialog = FineTuneDialog(self, self.drawings_dir, self.models_dir, self.settings,
                                    self.worker.current_model, self.device)
            dialog.modelSaved.connect(self._fine_tuned_model_saved)
            dialog.useRequested.connect(self.open_model)
            self.fine_tune_dialog = dialog
        if not dialog.running:
            dialog.device = self.device
        dialog.refresh()
        dialog.show()
        dialog.raise_()
        return dialog

    def _fine_tuned_model_saved(self, path: str) -> None:
        self._refresh_model_choices()
        self.statusBar().showMessage(f"Saved the fine-tuned model {os.path.basename(path)}", 10000)

    def stop_fine_tuning(self) -> None:
        """Cancel a run in progress and wait for it (idempotent): it saves nothing."""
        if self.fine_tune_dialog is not None:
            self.fine_tune_dialog.shutdown()

    # ------------------------------------------------------------------ the user's models

    def model_choices(self) -> list[tuple[str, str]]:
        """(label, source) of every model to choose from: the shipped ones, then the user's."""
        shipped = [(name, name) for name in (self.info.shipped if self.info else ())]
        mine = [(path.stem, str(path)) for path in user_models.list_models(self.models_dir)]
        return shipped + mine
