"""A fake full disk for tests: files opened for writing through ``os.fdopen`` (as the atomic
writer does) accept ``capacity`` bytes, then every write fails with ENOSPC, the error a
real full disk gives. The file on disk keeps what was written, as a real one would."""

from __future__ import annotations

import errno
import os


class _FillsUp:
    def __init__(self, stream, capacity: int):
        self._stream = stream
        self._left = capacity

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if size > self._left:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._left -= size
        return self._stream.write(data)

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stream.close()
        return False


def fill_disk_after(monkeypatch, capacity: int = 0) -> None:
    """From now on (for this test), writes fail once ``capacity`` bytes went to a file."""
    real = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        stream = real(fd, mode, *args, **kwargs)
        return _FillsUp(stream, capacity) if "w" in mode or "a" in mode else stream

    monkeypatch.setattr(os, "fdopen", fdopen)
