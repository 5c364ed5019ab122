"""The one base class of aegui's errors about bad input, and how an error is put in one line.

Every reader and writer of files (checkpoints, data sets, drawings) raises a subclass of
``InputError`` when the file, folder or argument is wrong: a message that names the file
and says what was expected, never a traceback's worth of internals. The ``aegui`` command
turns these (and the operating system's errors: full disk, no permission) into one line on
stderr and a non-zero exit. Standard library only, so anything can import it cheaply.
"""

from __future__ import annotations

__all__ = ["InputError", "describe", "first_line"]


class InputError(ValueError):
    """A file, folder or argument could not be used; the message names it and says why.
    A ValueError, so code that catches ValueError for bad arguments catches these too."""


def first_line(err: BaseException) -> str:
    """The first line of an error's message (the rest of a library's message is often a
    page of advice), or the error's type name when it has no message."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def describe(err: BaseException) -> str:
    """One line for the user: an OSError as ``file: reason`` (its strerror, not the
    ``[Errno 28]`` form), anything else as its first line."""
    if isinstance(err, OSError) and err.strerror:
        where = err.filename if err.filename is not None else ""
        return f"{where}: {err.strerror}" if where else err.strerror
    if isinstance(err, MemoryError):
        return "out of memory" + (f" ({first_line(err)})" if str(err) else "")
    return first_line(err)
