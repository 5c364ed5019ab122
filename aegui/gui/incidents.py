"""The error path: an exception raised anywhere in the app is logged, told and survived.

``ErrorReporter`` takes ``Incident``s from any thread (``report``): it writes each to a
rotating log file in the app's data folder and tells the window on the UI thread
(``changed``), which says so once in the status bar (``incident_view``). The app goes on:
an exception ends the slot, event handler or request it was raised in, nothing more.

``install`` routes every way Python and Qt report a failure to it, for the app's life:
``sys.excepthook`` (PySide sends exceptions raised in slots, event handlers and timers
there, and those of ``QThread.run``), ``threading.excepthook`` (plain threads), a logging
handler for records of ERROR or worse from any library (a future's failed callback is
one), and Qt's message handler (critical and fatal messages are incidents; warnings only go
to the log). Windows made by tests do not install it: there, pytest-qt and the tests'
conftest turn the same hooks into failures of the test that caused them.

Telling the user once: incidents are told apart by ``Incident.key`` (the exception's type
and where it was raised); one raised again, say on every mouse move, only counts up. The
log keeps the first few tracebacks of each and then a line at each power of ten.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QtMsgType, Signal, qInstallMessageHandler

__all__ = ["ErrorReporter", "Incident", "LOG_BACKUPS", "LOG_BYTES", "incident_from", "log_path_in"]

LOG_BYTES = 1 << 20          # per log file; LOG_BACKUPS older ones are kept beside it
LOG_BACKUPS = 3
FULL_TRACEBACKS = 3          # of one incident; later repeats get a line at each power of ten


@dataclass(frozen=True, eq=False)
class Incident:
    """One failure: ``where`` it happened (a thread, Qt), a one-line ``summary`` and the
    ``details`` (the traceback); ``key`` says which incidents are the same one."""

    where: str
    summary: str
    details: str
    key: tuple
    when: float = field(default_factory=time.time)


def incident_from(error: BaseException, where: str | None = None) -> Incident:
    """The incident of an exception (with its traceback) raised on ``where`` (default: the
    current thread)."""
    where = where or _thread_name()
    first = str(error).strip().splitlines()
    summary = f"{type(error).__name__}: {first[0]}" if first else type(error).__name__
    frames = traceback.extract_tb(error.__traceback__)
    origin = (frames[-1].filename, frames[-1].lineno) if frames else ()
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return Incident(where, summary, details, (where, type(error).__name__, *origin))


def log_path_in(data_dir: str | os.PathLike) -> Path:
    """Where the app's log lives in its data folder."""
    return Path(data_dir) / "logs" / "aegui.log"


def _thread_name() -> str:
    return "UI thread" if threading.current_thread() is threading.main_thread() \
        else f"thread {threading.current_thread().name}"


class _LogFile(logging.handlers.RotatingFileHandler):
    """A rotating log that makes its folder when first written and never complains on
    stderr: a log that cannot be written is noted (``problem``), and the app goes on."""

    def __init__(self, path: Path):
        super().__init__(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.problem = ""

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def handleError(self, record) -> None:
        error = sys.exc_info()[1]
        self.problem = f"cannot write the log {self.baseFilename}: {error}"


class _ErrorRecords(logging.Handler):
    """Records of ERROR or worse from any library's logger, reported as incidents."""

    def __init__(self, reporter: ErrorReporter):
        super().__init__(logging.ERROR)
        self.reporter = reporter

    def emit(self, record) -> None:
        if record.name == "aegui" or record.name.startswith("aegui."):
            return       # the app's own records: in the log already, and it reports its incidents itself
        if record.exc_info and record.exc_info[1] is not None:
            incident = incident_from(record.exc_info[1], f"{_thread_name()} ({record.name})")
            incident = Incident(incident.where, f"{record.getMessage()}: {incident.summary}", incident.details,
                                incident.key)
        else:
            message = record.getMessage()
            incident = Incident(f"{_thread_name()} ({record.name})", message, message,
                                (record.name, record.pathname, record.lineno))
        self.reporter.report(incident)


class ErrorReporter(QObject):
    """Logs ``Incident``s to ``log_path`` and keeps the distinct ones (``incidents``, with
    ``counts``) for the window; ``changed(incident, first)`` on the UI thread after each,
    ``first`` when it is new. ``report`` may be called from any thread."""

    LOGGER = "aegui.incidents"
    changed = Signal(object, bool)
    _arrived = Signal(object)

    def __init__(self, log_path: str | os.PathLike, parent: QObject | None = None):
        super().__init__(parent)
        self.log_path = Path(log_path)
        self._file = _LogFile(self.log_path)
        self.incidents: list[Incident] = []
        self.counts: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self._seen: dict[tuple, int] = {}     # for the log, counted on the reporting thread
        self._restore: list[Callable[[], None]] = []
        # Queued to this object's thread (the UI thread) when reported from another.
        self._arrived.connect(self._take)

    @property
    def log_problem(self) -> str:
        """Why the log could not be written ("" if it could)."""
        return self._file.problem

    def report(self, incident: Incident) -> None:
        """Log ``incident`` and tell the window (from any thread)."""
        with self._lock:
            seen = self._seen[incident.key] = self._seen.get(incident.key, 0) + 1
        if seen <= FULL_TRACEBACKS:
            self._log(logging.ERROR, f"{incident.where}: {incident.summary}\n{incident.details.rstrip()}")
        elif _power_of_ten(seen):
            self._log(logging.ERROR, f"{incident.where}: {incident.summary} (again: {seen} times so far)")
        self._arrived.emit(incident)

    def report_exception(self, error: BaseException, where: str | None = None) -> None:
        self.report(incident_from(error, where))

    def note(self, level: int, message: str) -> None:
        """A line in the log that is not an incident (a Qt warning, a user-facing failure)."""
        self._log(level, message)

    def clear(self) -> None:
        """Forget the incidents shown (the log keeps them)."""
        self.incidents.clear()
        self.counts.clear()

    def _log(self, level: int, message: str) -> None:
        self._file.handle(logging.makeLogRecord({"name": self.LOGGER, "levelno": level,
                                                 "levelname": logging.getLevelName(level), "msg": message}))

    def _take(self, incident: Incident) -> None:
        first = incident.key not in self.counts
        self.counts[incident.key] = self.counts.get(incident.key, 0) + 1
        if first:
            self.incidents.append(incident)
        self.changed.emit(incident, first)

    # ------------------------------------------------------------------ the process's hooks

    def install(self) -> None:
        """Route every uncaught exception and Qt's critical messages here, and the app's
        log records to the log file, until ``uninstall``."""
        if self._restore:
            return
        previous_hook, previous_thread_hook = sys.excepthook, threading.excepthook
        sys.excepthook = self._exception_hook
        threading.excepthook = self._thread_hook
        bridge = _ErrorRecords(self)
        logging.getLogger().addHandler(bridge)
        app_log = logging.getLogger("aegui")
        app_log.addHandler(self._file)
        level = app_log.level
        app_log.setLevel(logging.INFO)
        previous_qt = qInstallMessageHandler(self._qt_message)

        def restore() -> None:
            sys.excepthook, threading.excepthook = previous_hook, previous_thread_hook
            logging.getLogger().removeHandler(bridge)
            app_log.removeHandler(self._file)
            app_log.setLevel(level)
            qInstallMessageHandler(previous_qt)

        self._restore.append(restore)

    def uninstall(self) -> None:
        while self._restore:
            self._restore.pop()()

    def close(self) -> None:
        """Close the log file (it opens again if anything is reported later)."""
        self._file.close()

    def _exception_hook(self, kind, error, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        if error is None:
            error = kind()
        if error.__traceback__ is None:
            error = error.with_traceback(tb)
        self.report_exception(error)

    def _thread_hook(self, args) -> None:
        if issubclass(args.exc_type, SystemExit):
            return
        error = args.exc_value if args.exc_value is not None else args.exc_type()
        name = args.thread.name if args.thread is not None else "?"
        self.report_exception(error, f"thread {name}")

    def _qt_message(self, kind, context, message: str) -> None:
        if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            where = f"Qt ({context.file}:{context.line})" if context.file else "Qt"
            self.report(Incident(where, f"Qt: {message}", message, ("Qt", message)))
        elif kind == QtMsgType.QtWarningMsg:
            self.note(logging.WARNING, f"Qt: {message}")


def _power_of_ten(n: int) -> bool:
    while n % 10 == 0 and n > 1:
        n //= 10
    return n == 1
