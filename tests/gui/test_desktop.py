"""The app as a desktop application: its icon on the window (and so in the task bar and
About), and a clear message instead of Qt's abort when the X11 plugin cannot load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from aegui import qt_platform
from aegui.cli import main
from aegui.resources import ICON_SIZES


def test_the_window_carries_the_icon_in_every_size(window):
    icon = window.windowIcon()
    assert not icon.isNull() and sorted(s.width() for s in icon.availableSizes()) == sorted(ICON_SIZES)


def test_the_application_carries_it_too_and_names_its_desktop_entry():
    # In a fresh process: the application the app makes, not the test's.
    code = ("from aegui.gui.app import ensure_app; app = ensure_app(); "
            "print(sorted(s.width() for s in app.windowIcon().availableSizes()), app.desktopFileName())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "aegui" and str(sorted(ICON_SIZES)).replace(" ", "") in done.stdout.replace(" ", "")


def test_about_shows_the_icon(window):
    dialog = window.about()
    assert dialog.windowTitle() == "About aegui" and not dialog.windowIcon().isNull()
    assert not dialog.icon.pixmap().isNull() and dialog.icon.pixmap().width() == 64
    dialog.close()


def test_without_the_x11_libraries_aegui_says_which_are_missing_and_opens_no_window(monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(qt_platform, "platform_plugin", lambda name: Path("/qt/plugins/platforms/libqxcb.so"))
    monkeypatch.setattr(qt_platform, "missing_libraries", lambda path, ldd=None: ["libxcb-icccm.so.4"])
    windows = len(QApplication.topLevelWidgets()) if QApplication.instance() else 0
    assert main([]) == 1
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4" in err and "sudo apt install libxcb-icccm4" in err and "xcb-util-wm" in err
    assert (len(QApplication.topLevelWidgets()) if QApplication.instance() else 0) == windows
