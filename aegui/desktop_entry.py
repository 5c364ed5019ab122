"""``aegui install-desktop``: aegui in the desktop's application menu, for this user.

Writes a freedesktop.org desktop entry, ``applications/aegui.desktop``, and the icon in the
hicolor theme (``icons/hicolor/<N>x<N>/apps/aegui.png`` for each shipped size and
``scalable/apps/aegui.svg``) under the user's XDG data folder (``$XDG_DATA_HOME``, by
default ``~/.local/share``); ``--remove`` deletes exactly those files. The entry starts
the ``aegui`` command of this installation by its absolute path, so the menu works without
the virtual environment on PATH. Standard library only.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from aegui.atomic_files import write_bytes_atomic
from aegui.resources import ICON_SIZES, icon_path

__all__ = ["APP_ID", "data_home", "desktop_entry", "install", "installed_files", "launch_command", "remove"]

APP_ID = "aegui"   # the entry's and the icon's name; the app sets it as its desktop file name too


def data_home(env: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME`` when set to an absolute path (the specification ignores a relative
    one), else ``~/.local/share``."""
    value = (os.environ if env is None else env).get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def installed_files(home: Path) -> dict[Path, Path | None]:
    """Each file ``install`` writes under ``home`` -> the shipped file it copies (None: the entry)."""
    icons = home / "icons" / "hicolor"
    files: dict[Path, Path | None] = {home / "applications" / f"{APP_ID}.desktop": None}
    for size in ICON_SIZES:
        files[icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png"] = icon_path(size)
    files[icons / "scalable" / "apps" / f"{APP_ID}.svg"] = icon_path()
    return files


def launch_command() -> list[str]:
    """How the menu starts this installation: its ``aegui`` script, else ``python -m aegui``."""
    script = Path(sys.executable).parent / "aegui"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "aegui"]


# The Exec key's reserved characters (Desktop Entry Specification, "The Exec key").
_PLAIN = re.compile(r"^[\w@%+=:,./-]+$")


def _exec_argument(arg: str) -> str:
    """One argument of the Exec key: quoted when it needs to be, with ``"`$\\`` escaped
    inside the quotes, and ``%`` doubled (a lone ``%`` would be a field code)."""
    arg = arg.replace("%", "%%")
    if _PLAIN.match(arg):
        return arg
    return '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'


def desktop_entry(command: list[str]) -> str:
    """The text of the desktop entry that runs ``command``."""
    # Values of string type escape a backslash once more, after the Exec quoting.
    exec_value = " ".join(_exec_argument(a) for a in command).replace("\\", "\\\\")
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.5",
        "Name=aegui",
        "GenericName=Autoencoder Explorer",
        "Comment=Draw a digit and watch what an autoencoder learns",
        f"Exec={exec_value}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "StartupNotify=true",
        "Categories=Education;Science;ArtificialIntelligence;",
        "Keywords=autoencoder;latent space;MNIST;handwriting;neural network;",
        "",
    ])


def install(home: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Write the entry and the icons (atomically, replacing earlier ones); the files written."""
    home = data_home() if home is None else home
    written = []
    for target, source in installed_files(home).items():
        if source is None:
            write_bytes_atomic(target, desktop_entry(command or launch_command()).encode())
        else:
            write_bytes_atomic(target, source.read_bytes())
        written.append(target)
    return written


def remove(home: Path | None = None) -> list[Path]:
    """Delete the files ``install`` writes (folders stay: they are shared); the files removed."""
    home = data_home() if home is None else home
    removed = []
    for target in installed_files(home):
        try:
            target.unlink()
        except FileNotFoundError:
            continue
        removed.append(target)
    return removed
