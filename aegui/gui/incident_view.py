"""What the user sees of the error path (``incidents``): once per incident a message in the
status bar, and a button there that stays ("⚠ what went wrong", with how many times) and
opens the details: a non-modal dialog with each incident's traceback and where the log is.
Nothing here interrupts the user: no modal dialog, no focus taken."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

from .incidents import ErrorReporter, Incident

__all__ = ["IncidentView", "IncidentsDialog"]

SUMMARY_CHARS = 60


class IncidentsDialog(QDialog):
    """The incidents so far, newest last, with their tracebacks; where the log is."""

    def __init__(self, reporter: ErrorReporter, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("incidentsDialog")
        self.setWindowTitle("What went wrong")
        self.setModal(False)
        self.reporter = reporter
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit()
        self.text.setObjectName("incidentsText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        copy = QPushButton("Copy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text.toPlainText()))
        self.clear_button = QPushButton("Clear")
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(copy)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.text, 1)
        layout.addLayout(buttons)
        self.resize(720, 420)
        self.refresh()

    def refresh(self) -> None:
        reporter = self.reporter
        log = reporter.log_problem or f"Everything is also in the log: {reporter.log_path}"
        self.intro.setText("Something went wrong inside aegui. The app went on; what was being done at that "
                           f"moment may not have happened.\n{log}")
        blocks = []
        for incident in reporter.incidents:
            count = reporter.counts.get(incident.key, 1)
            when = time.strftime("%H:%M:%S", time.localtime(incident.when))
            times = f" ({count} times)" if count > 1 else ""
            blocks.append(f"{when} on the {incident.where}{times}: {incident.summary}\n\n{incident.details.rstrip()}")
        self.text.setPlainText(("\n\n" + "-" * 40 + "\n\n").join(blocks) or "Nothing went wrong since the last clear.")


class IncidentView(QObject):
    """Shows ``reporter``'s incidents: ``button`` (for the status bar), ``tell(text, ms)``
    once per new incident, and the details dialog over ``window`` on a click."""

    def __init__(self, window: QWidget, reporter: ErrorReporter, tell: Callable[[str, int], None]):
        super().__init__(window)
        self.window, self.reporter, self.tell = window, reporter, tell
        self.dialog: IncidentsDialog | None = None
        self.button = QToolButton()
        self.button.setObjectName("incidentButton")
        self.button.setAutoRaise(True)
        self.button.setToolTip("Something went wrong: click for the details")
        self.button.setVisible(False)
        self.button.clicked.connect(self.show_details)
        reporter.changed.connect(self._changed)

    def show_details(self) -> IncidentsDialog:
        if self.dialog is None:
            self.dialog = IncidentsDialog(self.reporter, self.window)
            self.dialog.clear_button.clicked.connect(self.clear)
        self.dialog.refresh()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def clear(self) -> None:
        self.reporter.clear()
        self.button.setVisible(False)
        if self.dialog is not None:
            self.dialog.refresh()

    def _changed(self, incident: Incident, first: bool) -> None:
        total = sum(self.reporter.counts.values())
        summary = incident.summary if len(incident.summary) <= SUMMARY_CHARS \
            else incident.summary[:SUMMARY_CHARS - 1] + "…"
        self.button.setText(f"⚠ {summary}" + (f" (×{total})" if total > 1 else ""))
        self.button.setVisible(True)
        if first:
            self.tell(f"Something went wrong ({summary}); the app goes on. Click ⚠ for the details.", 15000)
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.refresh()
