"""The user's own models: checkpoint files in a folder of theirs, listed and named.

Fine-tuning in the app writes ``<models folder>/<base>-mine-<n>.pt`` (the app's folder is
``QStandardPaths.AppDataLocation``/models); the app lists these files beside the shipped
models. Shipped models live in ``resources/models`` and are never written here: a folder
that is the shipped one is refused.

Standard library only (no torch, no Qt), so the window can list models without loading
torch on the UI thread.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["MINE", "list_models", "new_model_path"]

SUFFIX = ".pt"
MINE = "-mine-"
_NUMBERED = re.compile(rf"{re.escape(MINE)}\d+$")


def list_models(folder: str | os.PathLike | None) -> list[Path]:
    """The checkpoint files in ``folder``, by name; none when it does not exist. Hidden
    files (a checkpoint being written is one until it is complete) are left out."""
    if folder is None:
        return []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted((Path(e.path) for e in entries
                   if e.name.endswith(SUFFIX) and not e.name.startswith(".") and e.is_file()),
                  key=lambda p: _natural(p.stem))


def new_model_path(folder: str | os.PathLike, base: str, shipped: str | os.PathLike | None = None) -> Path:
    """A file name in ``folder`` that no file has yet: ``<base>-mine-<n>.pt`` with the
    smallest n >= 1 (a ``base`` that already ends in ``-mine-<k>`` loses that ending, so
    fine-tuning a fine-tuned model counts on). ``shipped``: the shipped models' folder,
    which is refused."""
    folder = Path(folder)
    if shipped is not None and _same_folder(folder, Path(shipped)):
        raise ValueError(f"{folder}: is the shipped models' folder; user models never go there")
    stem = _NUMBERED.sub("", Path(base).stem if base.endswith(SUFFIX) else base) or "model"
    stem = re.sub(r"[^\w.+-]+", "_", stem)
    n = 1
    while (folder / f"{stem}{MINE}{n}{SUFFIX}").exists():
        n += 1
    return folder / f"{stem}{MINE}{n}{SUFFIX}"


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _natural(name: str) -> list:
    """Sort key in which ``x-mine-10`` comes after ``x-mine-9``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
