"""The compute core imports no Qt: only ``aegui.gui`` may load PySide6 (or pyqtgraph).
And what the window imports on the UI thread to show the user's data loads no torch:
torch loads on the inference thread, so the window is on screen first.

Each check runs in a fresh interpreter, so that whatever this test process has already
imported cannot hide an import.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

CORE = ["aegui", "aegui.ops", "aegui.models", "aegui.preprocess", "aegui.data", "aegui.train",
        "aegui.evaluate", "aegui.cli", "aegui.drawings", "aegui.user_models", "aegui.traversal",
        "aegui.finetune", "aegui.session", "aegui.exports", "aegui.distributed", "aegui.resources",
        "aegui.qt_platform", "aegui.desktop_entry", "aegui.doctor", "aegui.pca", "aegui.corruption",
        "aegui.paradigm", "aegui.verdict", "aegui.verdict_fit", "aegui.pen_data", "aegui.scribbles", "aegui.augment", "aegui.drawn",
        # The Qt-free parts of the app: state and arithmetic the widgets render.
        "aegui.document", "aegui.raster", "aegui.gui.latent", "aegui.gui.samples", "aegui.gui.engine"]
# What the UI thread imports to hold the app's state and read the user's data; torch
# loads on the inference thread (the engine imports it when the first model loads).
TORCH_FREE = ["aegui.document", "aegui.raster", "aegui.drawings", "aegui.user_models", "aegui.traversal",
              "aegui.exports", "aegui.session", "aegui.gui.engine", "aegui.resources", "aegui.qt_platform",
              "aegui.desktop_entry", "aegui.pca", "aegui.corruption", "aegui.paradigm",
              "aegui.verdict", "aegui.pen_data", "aegui.scribbles",
              "aegui.augment", "aegui.gui.paradigm_views"]


def loaded_by(module: str, roots: tuple[str, ...]) -> str:
    """The modules of packages ``roots`` that importing ``module`` loads, in a fresh interpreter."""
    code = (f"import sys, {module}\n"
            f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {roots!r})\n"
            "print(','.join(loaded))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("module", CORE)
def test_importing_the_core_loads_no_qt(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} does not exist yet")
    loaded = loaded_by(module, ("PySide6", "shiboken6", "pyqtgraph"))
    assert loaded == "", f"importing {module} loaded {loaded}"


@pytest.mark.parametrize("module", TORCH_FREE)
def test_what_the_window_reads_the_users_data_with_loads_no_torch(module):
    loaded = loaded_by(module, ("torch",))
    assert loaded == "", f"importing {module} loaded {loaded[:200]}"
