"""The application icon as a ``QIcon``, from the PNG renderings shipped in resources/icons."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from aegui.resources import ICON_SIZES, icon_path

__all__ = ["app_icon"]


def app_icon() -> QIcon:
    """Every shipped size, so that title bar, task bar and About each get a sharp one."""
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(icon_path(size)), QSize(size, size))
    return icon
