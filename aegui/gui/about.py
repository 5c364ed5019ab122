"""Help ▸ About and Help ▸ Keyboard Shortcuts: one non-modal dialog with two tabs.

*About* says what runs: the version, the model and its code size, the backend and device,
the data folder (drawings, fine-tuned models), the log and the settings file. *Keyboard
shortcuts* is made from the window's menus when it opens, so it lists exactly the
shortcuts that work, under the menu where each action lives.
"""

from __future__ import annotations

import html
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QMenu, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

import aegui

__all__ = ["AboutDialog", "about_facts", "shortcut_rows"]


def about_facts(window) -> list[tuple[str, str]]:
    """(what, value) rows of the About tab, for ``window`` (a MainWindow)."""
    info = window.session.info
    if info is None:
        model, backend = "loading…", "not known yet"
    else:
        model = f"{info.name} ({info.kind}, code size {info.latent_dim})" + (" untrained" if info.untrained else "")
        backend = f"{info.backend} on {info.device}"
    from PySide6 import __version__ as pyside

    torch = sys.modules.get("torch")    # loaded by the inference thread: never imported here
    versions = f"Python {sys.version.split()[0]}, PySide6 {pyside}" + (f", torch {torch.__version__}"
                                                                        if torch is not None else "")
    log = str(window.reporter.log_path) + (f" ({window.reporter.log_problem})" if window.reporter.log_problem else "")
    return [("Version", f"aegui {aegui.__version__}"), ("Model", model), ("Backend", backend),
            ("Data folder", str(window.data_dir)), ("Log", log),
            ("Settings", window.settings.file_name), ("Runs on", versions)]


def shortcut_rows(menu_bar) -> list[tuple[str, str, str]]:
    """(menu, action, shortcuts) for every action with a shortcut in the menus of ``menu_bar``."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            name = action.text().replace("&", "")
            if action.menu() is not None:
                walk(action.menu(), f"{path} ▸ {name}")
            elif action.shortcuts():
                keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
                rows.append((path, name.rstrip("…"), keys))

    for action in menu_bar.actions():
        if action.menu() is not None:
            walk(action.menu(), action.text().replace("&", ""))
    return rows


class AboutDialog(QDialog):
    """About aegui (``tabs`` index 0) and its keyboard shortcuts (index 1), for ``window``."""

    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About aegui")
        self.setModal(False)
        self.window_ = window
        self.icon = QLabel()
        self.icon.setObjectName("aboutIcon")
        self.icon.setPixmap(window.windowIcon().pixmap(64, 64))
        self.facts = QLabel()
        self.facts.setObjectName("aboutFacts")
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setWordWrap(True)
        self.facts.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.shortcuts = QTableWidget(0, 3)
        self.shortcuts.setObjectName("shortcutSheet")
        self.shortcuts.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.shortcuts.verticalHeader().setVisible(False)
        self.shortcuts.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.shortcuts.horizontalHeader().setStretchLastSection(True)
        about = QWidget()
        row = QHBoxLayout(about)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.facts, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(about, "About")
        self.tabs.addTab(self.shortcuts, "Keyboard shortcuts")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.resize(620, 480)

    def refresh(self) -> None:
        """Read what runs now and the menus' shortcuts again."""
        rows = "".join(f"<tr><td><b>{html.escape(what)}</b>&nbsp;&nbsp;</td><td>{html.escape(value)}</td></tr>"
                       for what, value in about_facts(self.window_))
        self.facts.setText("<p><b>aegui</b>: draw a digit and watch an autoencoder frame, encode and "
                           f"reconstruct it, live.</p><table>{rows}</table>")
        sheet = shortcut_rows(self.window_.menuBar())
        self.shortcuts.setRowCount(len(sheet))
        for r, cells in enumerate(sheet):
            for c, text in enumerate(cells):
                self.shortcuts.setItem(r, c, QTableWidgetItem(text))
        self.shortcuts.resizeColumnsToContents()

    def open_at(self, tab: int) -> None:
        self.refresh()
        self.tabs.setCurrentIndex(tab)
        self.show()
        self.raise_()
