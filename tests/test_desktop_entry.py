"""Specification of ``aegui install-desktop``: a desktop entry and the icon under the
user's XDG data folder, starting this installation; ``--remove`` takes exactly those out.
All against a scratch XDG folder."""

from __future__ import annotations

import configparser
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from aegui import desktop_entry
from aegui.cli import main
from aegui.resources import ICON_SIZES


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str        # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_install_desktop_puts_an_entry_and_the_icon_in_the_xdg_data_folder(xdg, capsys):
    assert main(["install-desktop"]) == 0
    assert str(xdg / "applications" / "aegui.desktop") in capsys.readouterr().out
    entry = read_entry(xdg / "applications" / "aegui.desktop")
    assert entry["Type"] == "Application" and entry["Name"] == "aegui" and entry["Icon"] == "aegui"
    assert "Education" in entry["Categories"].split(";") and entry["Terminal"] == "false"
    program = Path(shlex.split(entry["Exec"])[0])
    assert program.is_absolute() and program.is_file()       # this installation, without PATH
    for size in ICON_SIZES:
        assert png_size(xdg / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "aegui.png") == (size, size)
    assert (xdg / "icons" / "hicolor" / "scalable" / "apps" / "aegui.svg").read_text().lstrip().startswith("<svg")


def test_remove_takes_out_exactly_what_was_installed(xdg, capsys):
    other = xdg / "applications" / "someone-else.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\nName=other\n")
    assert main(["install-desktop"]) == 0
    assert main(["install-desktop", "--remove"]) == 0
    assert f"removed {len(ICON_SIZES) + 2} files" in capsys.readouterr().out
    left = sorted(p.relative_to(xdg).as_posix() for p in xdg.rglob("*") if p.is_file())
    assert left == ["applications/someone-else.desktop"]
    assert main(["install-desktop", "--remove"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_installing_again_replaces_the_entry(xdg):
    desktop_entry.install(xdg, command=["/old/aegui"])
    desktop_entry.install(xdg, command=["/new/aegui"])
    assert read_entry(xdg / "applications" / "aegui.desktop")["Exec"] == "/new/aegui"


def test_the_exec_key_quotes_paths_as_the_specification_says():
    entry = desktop_entry.desktop_entry(["/home/a b/.venv/bin/python", "-m", "aegui", "100%", 'say "$x"'])
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert exec_line == 'Exec="/home/a b/.venv/bin/python" -m aegui 100%% "say \\\\"\\\\$x\\\\""'


def test_a_relative_xdg_data_home_is_ignored_as_the_specification_says(tmp_path):
    assert desktop_entry.data_home({"XDG_DATA_HOME": "relative/dir"}) == Path.home() / ".local" / "share"
    assert desktop_entry.data_home({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path


def test_the_entry_passes_desktop_file_validate(xdg):
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.skip("desktop-file-validate is not installed (desktop-file-utils)")
    desktop_entry.install(xdg)
    done = subprocess.run([validate, str(xdg / "applications" / "aegui.desktop")], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
