"""Small helpers of the window's controllers: ``make_action`` (a QAction with its
shortcuts, status tip and tooltip in one call) and ``Throttle`` (run a callback at most
every so often, the last call winning)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence

__all__ = ["Throttle", "make_action"]


def make_action(parent: QObject, text: str, slot: Callable, shortcuts: Sequence = (), tip: str = "",
                checkable: bool = False) -> QAction:
    """An action named ``text`` calling ``slot`` when triggered; the tooltip shows the
    first shortcut."""
    action = QAction(text, parent)
    action.setShortcuts([QKeySequence(s) for s in shortcuts])
    action.setStatusTip(tip)
    action.setToolTip(f"{text.rstrip('…')} ({QKeySequence(shortcuts[0]).toString()})"
                      if shortcuts else text.rstrip("…"))
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    return action


class Throttle(QObject):
    """``poke()`` runs ``callback`` after ``interval_ms`` unless a run is already due:
    however often it is poked, the callback runs at most once per interval."""

    def __init__(self, interval_ms: int, callback: Callable[[], None], parent: QObject | None = None):
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(callback)

    def poke(self, *_args) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def pending(self) -> bool:
        """A run is due (poked, and the interval not over yet)."""
        return self._timer.isActive()
