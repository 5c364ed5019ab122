"""The compute core imports no Qt: only ``aegui.gui`` may load PySide6 (or pyqtgraph).

Each check runs in a fresh interpreter, so that whatever this test process has already
imported cannot hide an import.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

CORE = ["aegui", "aegui.ops", "aegui.models", "aegui.preprocess", "aegui.data", "aegui.train",
        "aegui.evaluate", "aegui.cli",
        # The Qt-free parts of the app: state and arithmetic the widgets render.
        "aegui.gui.drawing", "aegui.gui.latent", "aegui.gui.samples"]


@pytest.mark.parametrize("module", CORE)
def test_importing_the_core_loads_no_qt(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} does not exist yet")
    code = (f"import sys, {module}\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))\n"
            "print(','.join(loaded))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"importing {module} loaded {done.stdout.strip()}"
