"""The monkey test: the real window, offscreen, driven by a seeded random mix of what a user
does (``monkey.Monkey``: strokes of every size, resizes from 640x480 to 2560x1600, splitter
drags, docks closed, reopened and floated, tabs, model switches, bar drags and typed
values, map clicks, pins and the slider, undo, redo and clear, collect mode, exports, a
light or dark palette), thousands of actions.

After every action: no exception anywhere (the UI thread, the inference and map threads,
plain threads) and no Qt warning. Every few actions, and after the last: within a bounded
time the model input, reconstruction, bars, star, verdict and traversal follow the newest
drawing, and the verdict and the map agree with the code shown.

Reproducible from its seed: a failure names the seed and the actions that led to it.
``AEGUI_MONKEY_ACTIONS`` (default sized for CI) and ``AEGUI_MONKEY_SEED`` run it longer or
otherwise, e.g. ``AEGUI_MONKEY_ACTIONS=20000 AEGUI_MONKEY_SEED=7 pytest tests/gui/test_monkey.py``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

import numpy as np
import pytest
from monkey import Monkey, MonkeyFailure
from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

ACTIONS = int(os.environ.get("AEGUI_MONKEY_ACTIONS", "2000"))
SEED = int(os.environ.get("AEGUI_MONKEY_SEED", "20240610"))
CHECK_EVERY = 12            # actions between checks that the views followed (and after the last)
HISTORY = 40                # actions named in a failure


@pytest.fixture
def model(model_paths):
    return model_paths[0]


@pytest.fixture(autouse=True)
def palette_restored():
    """The monkey may leave the application dark: the tests after it get the palette back."""
    palette = QApplication.palette()
    yield
    QApplication.setPalette(palette)


class Trouble:
    """Every exception and Qt warning, from any thread, while installed."""

    def __init__(self):
        self.seen: list[str] = []

    def __enter__(self):
        self._hooks = sys.excepthook, threading.excepthook
        sys.excepthook = lambda kind, error, tb: self.seen.append("".join(traceback.format_exception(kind, error, tb)))
        threading.excepthook = lambda args: self.seen.append(
            "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))
        self._qt = qInstallMessageHandler(self._message)
        return self

    def _message(self, kind, _context, message: str) -> None:
        if kind != QtMsgType.QtDebugMsg and kind != QtMsgType.QtInfoMsg and \
                not message.startswith(("This plugin does not support", "QWindowsWindow::setGeometry")):
            self.seen.append(f"Qt {kind.name}: {message}")

    def __exit__(self, *exc):
        sys.excepthook, threading.excepthook = self._hooks
        qInstallMessageHandler(self._qt)


@pytest.mark.slow
@pytest.mark.qt_no_exception_capture
def test_the_window_survives_a_monkey(window, qtbot, model_paths, tmp_path):
    rng = np.random.default_rng(SEED)
    folder = tmp_path / "monkey"
    folder.mkdir()
    monkey = Monkey(window, rng, model_paths, folder)
    done: list[str] = []
    slowest = 0.0
    started = time.perf_counter()

    def fail(problem: str):
        steps = "\n".join(f"  {i}: {line}" for i, line in list(enumerate(done))[-HISTORY:])
        pytest.fail(f"monkey seed {SEED}, after action {len(done) - 1} of {ACTIONS}: {problem}\n"
                    f"the last actions:\n{steps}\n(rerun: AEGUI_MONKEY_SEED={SEED} "
                    f"AEGUI_MONKEY_ACTIONS={len(done)} pytest tests/gui/test_monkey.py)", pytrace=False)

    with Trouble() as trouble:
        for i in range(ACTIONS):
            done.append(monkey.act())
            QApplication.processEvents()
            incidents = window.reporter.incidents
            if trouble.seen or incidents:
                fail("\n".join(trouble.seen + [f"{x.where}: {x.details}" for x in incidents]))
            if (i + 1) % CHECK_EVERY == 0 or i + 1 == ACTIONS:
                problem = ""
                try:
                    slowest = max(slowest, monkey.check_followed())
                except MonkeyFailure as failure:
                    problem = str(failure)
                if problem:
                    fail(problem)
                if trouble.seen or window.reporter.incidents:
                    fail("\n".join(trouble.seen))
    print(f"\nmonkey: {ACTIONS} actions (seed {SEED}) in {time.perf_counter() - started:.0f} s; "
          f"the views followed within {slowest:.2f} s at worst; requests served {window.worker.served}")
    assert not window.errors, window.errors
