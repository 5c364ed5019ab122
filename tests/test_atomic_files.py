"""Atomic writes: all or nothing, no leftovers, the permissions of a plain open()."""

import os
import stat

import pytest

from aegui.atomic_files import atomic_write, write_bytes_atomic


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
