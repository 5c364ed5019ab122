"""The installed Qt binding keeps Python's reference counts right.

PySide6 6.12's stable-ABI wheels return None without taking a reference; on Python
before 3.12 that kills the interpreter after a few seconds of drawing. pyproject.toml
excludes those releases there; this test fails if such a binding is installed anyway.
"""

import sys

from PySide6.QtWidgets import QLabel


def test_void_qt_calls_do_not_steal_references_to_none(qapp):
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.update()
        label.setText("7")
    # Other threads may hold or drop a few references meanwhile; a leak would be 4000.
    assert abs(sys.getrefcount(None) - before) < 200
