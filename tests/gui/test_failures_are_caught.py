"""The Qt tests' own safety net: an exception raised in a slot on the UI thread, in a plain
thread, or a Qt warning fails the test that caused it, though the code under test went on.
Checked by running such tests in a pytest of their own, with this folder's conftest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CASES = '''
import threading

from PySide6.QtCore import QObject, QTimer, Signal, qWarning


class Emitter(QObject):
    fired = Signal()


def test_a_slot_raises(qtbot):
    emitter = Emitter()

    def slot():
        raise ValueError("in a slot")

    emitter.fired.connect(slot)
    emitter.fired.emit()            # the exception goes to sys.excepthook, not to this test


def test_a_timer_raises(qtbot):
    QTimer.singleShot(0, lambda: 1 / 0)
    qtbot.wait(50)


def test_a_thread_raises():
    thread = threading.Thread(target=lambda: [][1])
    thread.start()
    thread.join()


def test_qt_warns(qtbot):
    qWarning("something is off")


def test_nothing_goes_wrong(qtbot):
    qtbot.wait(10)
'''


def test_an_exception_anywhere_fails_the_test_that_caused_it(tmp_path):
    for name in ("conftest.py", "gui_helpers.py"):
        shutil.copy(HERE / name, tmp_path / name)
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join(
        [str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    report = done.stdout
    for failing in ("test_a_slot_raises", "test_a_timer_raises", "test_a_thread_raises", "test_qt_warns"):
        assert f"test_cases.py::{failing}" in report and any(
            line.startswith(("FAILED", "ERROR")) and failing in line for line in report.splitlines()), report
    assert "PASSED test_cases.py::test_nothing_goes_wrong" in report, report
