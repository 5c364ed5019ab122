"""The window's dialogs, in one place that tests replace: ``ask_open_path``,
``ask_save_path``, ``ask_width``, ``show_error`` and ``confirm`` (nothing may block a test on a modal dialog), and
file dialogs that start in the folder used last and remember the new one."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

__all__ = ["Dialogs"]


class Dialogs:
    """Modal dialogs over ``parent``; ``settings.last_folder`` is where file dialogs start."""

    def __init__(self, parent: QWidget, settings):
        self.parent, self.settings = parent, settings

    def show_error(self, title: str, text: str) -> None:
        QMessageBox.critical(self.parent, title, text)

    def confirm(self, title: str, text: str) -> bool:
        """Ask before doing something the user may regret (No is the default)."""
        answer = QMessageBox.question(self.parent, title, text, QMessageBox.StandardButton.Yes
                                      | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_open_path(self, title: str, filter_: str) -> str:
        return QFileDialog.getOpenFileName(self.parent, title, self.settings.last_folder, filter_)[0]

    def ask_save_path(self, title: str, filter_: str, suggestion: str = "") -> str:
        """A path to save to; the dialog adds the suggestion's extension to a name without
        one (and asks before replacing that file)."""
        dialog = QFileDialog(self.parent, title, suggestion, filter_)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(os.path.splitext(suggestion)[1].lstrip("."))
        return dialog.selectedFiles()[0] if dialog.exec() and dialog.selectedFiles() else ""

    def ask_width(self, title: str, default: int) -> int:
        """A width in pixels for an image export; 0 when cancelled."""
        width, ok = QInputDialog.getInt(self.parent, title, "Width of the image, in pixels:", default, 16,
                                        20000, 100)
        return width if ok else 0

    def file_to_open(self, title: str, filter_: str) -> str:
        """``ask_open_path``; remembers the folder of the file chosen ("" if none)."""
        path = self.ask_open_path(title, filter_)
        self._remember(path)
        return path

    def file_to_save(self, title: str, filter_: str, suggestion: str) -> str:
        """``ask_save_path`` starting in the folder used last; remembers the new one."""
        folder = self.settings.last_folder
        start = os.path.join(folder, suggestion) if folder and os.path.isdir(folder) else suggestion
        path = self.ask_save_path(title, filter_, start)
        self._remember(path)
        return path

    def _remember(self, path: str) -> None:
        if path:
            self.settings.last_folder = os.path.dirname(os.path.abspath(path))
