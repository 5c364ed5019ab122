"""The ninja build of the op into a cache folder, for when the prebuilt library does not
load (see _extension.py), and the checks that make a cache entry safe to load.

- A cache entry is loaded only if it is what a build wrote: its size and sha256, recorded
  at build time beside it, are checked first. dlopen of a truncated library does not fail
  cleanly: the process dies of SIGBUS on first touching a missing page, on every start.
  An entry that does not match is rebuilt.
- A build runs in a child process, in its own session (and process group) and its own
  scratch folder; a timeout kills the whole session (the child, ninja and every compiler)
  and deletes the folder, torch's lock file with it. The library is moved into place whole.
- Builds of one entry take turns by an OS file lock that records its holder's pid. The
  kernel releases the lock when the holder dies; a holder that is stopped (Ctrl-Z, a
  debugger) or no longer exists is recognised at once, and its lock broken, instead of
  being waited for until the time limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..atomic_files import write_bytes_atomic

LOCK_NAME = ".aegui-build-lock"


def manifest_path(lib: Path) -> Path:
    return lib.with_name(lib.name + ".json")


def _digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def record(lib: Path) -> None:
    """Writes the manifest of a library a build just made: its size and sha256."""
    size, sha = _digest(lib)
    write_bytes_atomic(manifest_path(lib), json.dumps({"size": size, "sha256": sha}).encode())


def entry_problem(lib: Path) -> str:
    """Why the cache entry `lib` must not be loaded, or "" when it matches its manifest."""
    if not lib.is_file():
        return "not built yet"
    try:
        manifest = json.loads(manifest_path(lib).read_text())
        want_size, want_sha = int(manifest["size"]), str(manifest["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return "it has no valid record of what was built"
    size = lib.stat().st_size
    if size != want_size:  # cheap, and catches truncation before reading it all
        return f"it is {size} bytes, the build made {want_size}"
    if _digest(lib)[1] != want_sha:
        return "its contents differ from what the build made"
    return ""


# ------------------------------------------------------------------------------ lock


def _holder_alive(pid: int) -> bool:
    """Whether process `pid` exists and can make progress (not stopped, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: existing is all we can tell
    state = stat[stat.rindex(")") + 2:][:1]
    return state not in ("T", "t", "Z", "X")


@contextlib.contextmanager
def exclusive(path: Path, timeout_s: float):
    """Holds the lock file `path` (an OS lock), waiting up to timeout_s for another holder
    unless that holder is recognised as stale."""
    try:
        import fcntl
    except ImportError:  # not POSIX: builds in one process at a time are the user's job
        yield
        return
    deadline = time.monotonic() + timeout_s
    while True:
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            _break_if_stale(path)
            if time.monotonic() > deadline:
                raise RuntimeError(f"another process held the build lock {path} for over {timeout_s:.0f} s") from None
            time.sleep(0.2)
            continue
        if not _is_current(f, path):  # broken by another waiter since we opened it
            f.close()
            continue
        break
    try:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def _is_current(f, path: Path) -> bool:
    try:
        return os.fstat(f.fileno()).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def _break_if_stale(path: Path) -> None:
    """Removes the lock file if its holder is gone or stopped; the next attempt locks a
    new file. (The stale holder keeps its lock on the old one, which nobody asks for.)"""
    try:
        st = path.stat()
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return  # being written, or not ours to judge
    if pid == os.getpid() or _holder_alive(pid):
        return
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_ino == st.st_ino:
            path.unlink()


# ----------------------------------------------------------------------------- build


def build(folder: Path, lib: Path, with_cuda: bool, timeout_s: float) -> None:
    """Compiles the library in a scratch folder of its own and moves it to `lib`, with its
    manifest. Raises RuntimeError saying why when it fails or runs past timeout_s."""
    _remove_abandoned_scratch(folder)
    scratch = folder / f"build-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        cmd = [sys.executable, "-m", "aegui.ops._build", str(scratch), "1" if with_cuda else "0"]
        returncode, out, err = _run_in_own_group(cmd, timeout_s)
        built = scratch / lib.name
        if returncode != 0 or not built.is_file():
            tail = (err or out).strip().splitlines()[-12:]
            raise RuntimeError("compiler error: " + " | ".join(tail))
        os.replace(built, lib)
        record(lib)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # torch's own lock file, left in the cache folder by a build of an earlier version
    # that was killed, would make a build there wait forever.
    with contextlib.suppress(FileNotFoundError):
        (folder / "lock").unlink()


def _run_in_own_group(cmd: list[str], timeout_s: float) -> tuple[int, str, str]:
    """Runs cmd in a session of its own; on timeout (or any interruption) kills every
    process of that session, so no ninja or compiler outlives it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return proc.returncode, out, err
    except BaseException as e:
        # The leader is not reaped yet, so its pid still names the session: none other's.
        _kill_session(proc.pid)
        proc.communicate()
        if isinstance(e, subprocess.TimeoutExpired):
            raise RuntimeError(f"the compiler ran past {timeout_s:.0f} s and was stopped") from None
        raise


def _kill_session(sid: int) -> None:
    """SIGKILL to the process group `sid` and to every process of session `sid`: ninja
    puts each compiler in a process group of its own, but they all stay in the session."""
    with contextlib.suppress(ProcessLookupError, PermissionError, AttributeError):
        os.killpg(sid, signal.SIGKILL)
    for _ in range(50):  # until none is left: a process may fork between two scans
        members = _session_members(sid)
        if not members:
            return
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _session_members(sid: int) -> list[int]:
    """Live processes of session `sid` (Linux: from /proc; elsewhere none is known)."""
    members = []
    proc = Path("/proc")
    if not proc.is_dir():
        return members
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the name: state, ppid, pgrp, session
        if fields[0] not in ("Z", "X") and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


def _remove_abandoned_scratch(folder: Path) -> None:
    """Scratch folders of builds whose process is gone (killed before it could clean up)."""
    for d in folder.glob("build-*"):
        try:
            pid = int(d.name[len("build-"):])
        except ValueError:
            continue
        if pid != os.getpid() and not _holder_alive(pid):
            shutil.rmtree(d, ignore_errors=True)
