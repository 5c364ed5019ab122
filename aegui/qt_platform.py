"""Qt's platform plugins and the system libraries they need, checked before Qt starts.

On a Linux desktop Qt draws through a platform plugin (``xcb`` for X11, ``wayland``), a
shared library that links against a dozen system libraries which a minimal install may
lack. When one is missing, Qt names the wrong one (it suggests ``libxcb-cursor0`` for any
of them) and aborts. So before the window is made, ``preflight`` asks the dynamic linker
(``ldd``, else a ``ctypes`` load) which libraries the plugin Qt is about to use cannot
find, and says so with the line that installs them on Debian/Ubuntu and on Fedora.

Standard library only: it never imports Qt (that is what might not load).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["install_lines", "missing_libraries", "platform_plugin", "preflight", "qt_platform_choice"]

# Soname -> (Debian/Ubuntu package, Fedora package): the libraries Qt 6's xcb and wayland
# plugins link against (Qt's "X11 requirements", checked with ldd on PySide6's plugins).
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libXau.so.6": ("libxau6", "libXau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl"),
}

Ldd = Callable[[Path], str | None]   # ldd's output for a library, None when ldd cannot run


def qt_platform_choice(env: Mapping[str, str] | None = None) -> list[str]:
    """The platform plugins Qt will try, in order: ``QT_QPA_PLATFORM`` when set (a
    ``;``-separated list, each maybe with ``:options``), else Wayland then X11 in a
    Wayland session, else X11 (``xcb``)."""
    env = os.environ if env is None else env
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return [part.split(":", 1)[0].strip() for part in chosen.split(";") if part.strip()]
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" or env.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def platform_plugin(name: str) -> Path | None:
    """PySide6's plugin file for platform ``name`` (``xcb``, ``wayland``, ...), if present."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "Qt" / "plugins" / "platforms" / f"libq{name}.so"
        if path.is_file():
            return path
    return None


def _run_ldd(path: Path) -> str | None:
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout + done.stderr


def missing_libraries(path: Path, ldd: Ldd = _run_ldd) -> list[str]:
    """The shared libraries that ``path`` (a library) needs, directly or not, and the
    dynamic linker cannot find. ``ldd`` lists them all; without it, loading the library
    names the first one."""
    output = ldd(path)
    if output is not None:
        found = re.findall(r"^\s*(\S+)\s+=>\s+not found", output, flags=re.MULTILINE)
        return list(dict.fromkeys(found))
    try:
        ctypes.CDLL(str(path))
    except OSError as err:
        match = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", str(err))
        return [match.group(1)] if match else []
    return []


def install_lines(missing: list[str]) -> list[str]:
    """The commands that install ``missing`` (sonames) on Debian/Ubuntu and on Fedora;
    a library not in the table is named, for the package manager to search."""
    debian = sorted({PACKAGES[lib][0] for lib in missing if lib in PACKAGES})
    fedora = sorted({PACKAGES[lib][1] for lib in missing if lib in PACKAGES})
    unknown = [lib for lib in missing if lib not in PACKAGES]
    lines = []
    if debian:
        lines += [f"Debian/Ubuntu:  sudo apt install {' '.join(debian)}",
                  f"Fedora:         sudo dnf install {' '.join(fedora)}"]
    if unknown:
        lines.append(f"find the package providing {', '.join(unknown)}: apt-file search <name> (Debian/Ubuntu), "
                     f"dnf provides '*/<name>' (Fedora)")
    return lines


def preflight(env: Mapping[str, str] | None = None, ldd: Ldd = _run_ldd,
              plugin: Callable[[str], Path | None] = platform_plugin) -> str | None:
    """Why Qt's window would fail to start here, as a message; None when nothing is wrong
    that can be seen before starting it. Checks X11 only when X11 is Qt's first choice
    (in a Wayland session Qt falls back to it by itself)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux") or qt_platform_choice(env)[0] != "xcb":
        return None
    path = plugin("xcb")
    if path is None:
        return None          # not PySide6's own Qt: let Qt speak for itself
    missing = missing_libraries(path, ldd)
    if missing:
        return "\n".join([
            f"aegui: Qt's X11 platform plugin ({path.name}) cannot load: the system lacks "
            f"{', '.join(missing)}.", "Install them:",
            *(f"  {line}" for line in install_lines(missing)),
            "(README.md, 'Start', lists everything Qt needs on Linux; `aegui doctor` reports this system.)"])
    if not env.get("DISPLAY"):
        return ("aegui: no display to open the window on (DISPLAY is not set). Start it from a desktop "
                "session, or for a picture without one: QT_QPA_PLATFORM=offscreen aegui screenshot out.png")
    return None
