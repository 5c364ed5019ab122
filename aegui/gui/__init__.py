"""The desktop app: the only package of aegui that imports PySide6 and pyqtgraph.

``create_window(model=None)`` builds the main window without starting the event loop
(tests and screenshots use it); ``aegui.gui.app`` holds ``run_app`` and ``screenshot``.
Nothing here imports Qt at package import time, so the Qt-free modules of this package
(``drawing``, ``latent``, ``samples``, ``engine``) stay importable, and testable, without a
display.
"""

from __future__ import annotations

__all__ = ["create_window"]


def create_window(model=None, **kwargs):
    """The main window on ``model`` (a shipped name, a checkpoint path, a model object, or
    None for the last used or default model), built but not shown; see ``MainWindow``."""
    from .main_window import create_window as _create

    return _create(model, **kwargs)
