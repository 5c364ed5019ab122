"""Atomic writes: all or nothing, no leftovers (even after a killed write, once it is old), the
permissions of a plain open()."""

import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from aegui.atomic_files import atomic_write, remove_stale_temporaries, write_bytes_atomic


def test_a_completed_write_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    write_bytes_atomic(target, b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(target.parent) == ["f.bin"]


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as f:
            f.write(b"half of the new")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_a_new_file_gets_the_mode_a_plain_open_would_give(tmp_path):
    # mkstemp alone would leave 0600: a shared model or drawing unreadable to others.
    mask = os.umask(0)
    os.umask(mask)
    target = tmp_path / "g.bin"
    write_bytes_atomic(target, b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def killed_while_writing(target) -> str:
    """Start writing ``target`` in another process and SIGKILL it mid-write; the name of the
    temporary file it leaves behind."""
    code = ("import sys, time\nfrom aegui.atomic_files import atomic_write\n"
            "with atomic_write(sys.argv[1]) as f:\n    f.write(b'x' * 1000); f.flush()\n"
            "    print('writing', flush=True); time.sleep(60)\n")
    before = set(os.listdir(target.parent))
    with subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout.readline() == "writing\n"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    left = sorted(set(os.listdir(target.parent)) - before)
    assert len(left) == 1 and left[0].startswith(f".{target.name}.") and left[0].endswith(".tmp")
    return left[0]


def age(path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_temporaries_of_killed_writes_are_cleaned_once_old_and_nothing_else_is(tmp_path):
    stale = tmp_path / killed_while_writing(tmp_path / "model.pt")
    fresh = tmp_path / killed_while_writing(tmp_path / "other.png")
    age(stale, 2)
    foreign = [tmp_path / ".notes.tmp", tmp_path / ".model.pt.abcd1234.tmp", tmp_path / "keep.aegui.tmp"]
    for path in foreign:
        path.write_bytes(b"not ours")
        age(path, 48)

    write_bytes_atomic(tmp_path / "third.json", b"{}")       # any write into the folder cleans it

    assert not stale.exists()
    assert fresh.exists()                                     # perhaps a write in progress
    assert all(path.exists() for path in foreign)
    assert remove_stale_temporaries(tmp_path, older_than_s=0) == 1 and not fresh.exists()


def test_cleaning_a_folder_that_cannot_be_read_is_harmless(tmp_path):
    assert remove_stale_temporaries(tmp_path / "absent") == 0
