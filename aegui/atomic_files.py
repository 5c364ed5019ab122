"""Atomic file writes: a temporary file in the target's folder, flushed to disk, then
renamed over the target. A reader sees the old file or the new one, never half of one,
and a write interrupted by anything (an error, Ctrl-C, a closed window) leaves no
partial or temporary file behind.

Only a killed process (SIGKILL, a power cut) can leave its hidden temporary file,
``.<name>.<random>.aegui.tmp``. Every completed write removes such files from its folder
once they are an hour old (a write still in progress is never that old): only files of
that exact form, so nothing of anyone else's is touched."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "remove_stale_temporaries", "write_bytes_atomic"]

_SUFFIX = ".aegui.tmp"
# mkstemp's names: the prefix, 8 characters of [a-z0-9_], the suffix.
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}" + re.escape(_SUFFIX) + "$")
STALE_AFTER_S = 3600.0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: os.umask can only be read by setting it, which is not thread-safe.
_FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, make_folder: bool = True) -> Iterator[BinaryIO]:
    """``with atomic_write(path) as f: f.write(...)``: the file appears complete when the
    block ends, or not at all if it raises. The folder is created if missing (unless not
    ``make_folder``: a folder chosen in a file dialog that vanished stays gone)."""
    path = Path(path)
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # mkdir's word for "a file is in the way", which misleads
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)) from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    remove_stale_temporaries(path.parent)


def remove_stale_temporaries(folder: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> int:
    """Remove the temporary files killed writes left in ``folder`` (regular files named as
    ``atomic_write`` names them, last modified over ``older_than_s`` ago). Returns how
    many; never raises (a folder it cannot read or a file it cannot remove is left)."""
    removed = 0
    deadline = time.time() - older_than_s
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not _TEMPORARY.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < deadline:
                os.unlink(entry.path)
                removed += 1
    return removed


def write_bytes_atomic(path: str | os.PathLike, data: bytes, make_folder: bool = True) -> None:
    with atomic_write(path, make_folder) as f:
        f.write(data)
