"""Fixtures of the Qt tests: an offscreen platform, a small real model with reference
codes, a main window on it (its data folder a temporary one) whose dialogs are recorded
instead of shown, real mouse drags, and a check that no test leaves a Qt warning or a
Python warning in the log. Qt's test mode keeps any window made without a data folder
out of the user's real one.

Any exception raised while a test runs fails that test, wherever it was raised: in a slot,
an event handler or a timer on the UI thread (pytest-qt's hook on ``sys.excepthook``,
which PySide reports these to), in a plain thread (``threading.excepthook``, below), in a
request of the inference thread (the window's error reporter, checked when the window
closes), or as a Qt warning or worse (``clean_log``)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import logging  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402

import pytest  # noqa: E402

import aegui.gui  # noqa: E402,F401  (first: protects None/True/False, see aegui/gui/__init__.py)
from gui_helpers import make_model, settle  # noqa: E402
from PySide6.QtCore import QSize, QStandardPaths, QtMsgType  # noqa: E402
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox  # noqa: E402

# The offscreen platform says these whenever a main window lays out or a dialog is
# raised; they are not ours.
PLATFORM_NOISE = ("This plugin does not support propagateSizeHints()", "This plugin does not support raise()")

QStandardPaths.setTestModeEnabled(True)


@pytest.fixture(scope="session", autouse=True)
def map_cache(tmp_path_factory):
    """Latent maps laid out by the tests are cached in a folder of their own."""
    folder = tmp_path_factory.mktemp("cache")
    before = os.environ.get("AEGUI_CACHE_DIR")
    os.environ["AEGUI_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("AEGUI_CACHE_DIR", None)
    else:
        os.environ["AEGUI_CACHE_DIR"] = before


@pytest.fixture(autouse=True)
def clean_log(qtlog, caplog):
    """Fail a test that logs a Qt warning (or worse) or a Python warning record."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r.message for r in qtlog.records
           if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
           and not r.message.startswith(PLATFORM_NOISE)]
    assert not bad, f"Qt warnings: {bad}"
    records = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not records, f"logged warnings: {records}"


@pytest.fixture(autouse=True)
def thread_exceptions_fail_the_test():
    """An exception that ends a plain thread fails the test it happened in."""
    caught = []
    previous = threading.excepthook
    threading.excepthook = lambda args: caught.append(
        "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))
    yield caught
    threading.excepthook = previous
    assert not caught, "an exception ended a thread:\n" + "\n".join(caught)


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """A modal dialog would hang the test run: make any that slips through fail."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a modal dialog was opened: {args[1:3]}")

    for name in ("critical", "warning", "information", "question", "about"):
        monkeypatch.setattr(QMessageBox, name, refuse)
    for name in ("getInt", "getDouble", "getText", "getItem"):
        monkeypatch.setattr(QInputDialog, name, refuse)


@pytest.fixture(scope="session")
def model():
    return make_model()


@pytest.fixture
def model_paths(tmp_path):
    """Saved models of different kinds and code sizes to switch between (one with a 2-D
    code, whose map is its latent plane); a test opens the first by overriding ``model``."""
    from aegui import models

    paths = []
    for kind, size, seed in (("ae", 16, 0), ("vae", 8, 1), ("ae", 2, 2)):
        paths.append(str(tmp_path / f"{kind}-{size}.pt"))
        models.save(make_model(kind, size, seed=seed), paths[-1])
    return paths


@pytest.fixture
def window(qtbot, tmp_path, model):
    from aegui.gui import create_window
    from aegui.gui.settings import Settings

    win = create_window(model, settings=Settings(tmp_path / "settings.ini"), data_dir=tmp_path / "data")
    win.errors = []
    win.dialogs.show_error = lambda title, text: win.errors.append((title, text))
    win.dialogs.ask_width = lambda title, default: default
    win.confirmations = []         # what was asked; the answer is yes
    win.dialogs.confirm = lambda title, text: win.confirmations.append((title, text)) or True
    qtbot.addWidget(win)
    win.lay_out(QSize(1200, 800))
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.session.info is not None, timeout=60000)
    settle(qtbot, win)
    yield win
    win.close()
    assert not win.worker.isRunning()
    QApplication.processEvents()     # answers and failures still queued for the UI thread
    assert not win.reporter.incidents, "\n\n".join(f"{i.where}: {i.details}" for i in win.reporter.incidents)
