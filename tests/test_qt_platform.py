"""Specification of the check made before Qt starts: which system libraries Qt's X11
plugin cannot find, how to install them on Debian/Ubuntu and Fedora, and when the check
applies. Tested with fake ``ldd`` output and with a fake plugin the real dynamic linker
cannot complete."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aegui import qt_platform
from aegui.qt_platform import install_lines, missing_libraries, preflight, qt_platform_choice

# What ldd prints for PySide6's libqxcb.so on a Debian without libxcb-icccm4 and libxcb-keysyms1
# (the libraries the user lacked), each missing one listed for every library needing it.
LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd5a9e2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0c1c000000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0c1bfe0000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c1bc00000)
"""
X11 = {"DISPLAY": ":0"}


def fake_ldd(output):
    return lambda path: output


def test_the_missing_libraries_are_read_from_ldd_once_each_in_order():
    assert missing_libraries(Path("libqxcb.so"), fake_ldd(LDD_OUTPUT)) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert missing_libraries(Path("libqxcb.so"), fake_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n")) == []


def test_the_install_line_names_the_packages_on_debian_and_fedora():
    lines = install_lines(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert lines == ["Debian/Ubuntu:  sudo apt install libxcb-icccm4 libxcb-keysyms1",
                     "Fedora:         sudo dnf install xcb-util-keysyms xcb-util-wm"]
    unknown = install_lines(["libsomething-odd.so.3"])
    assert len(unknown) == 1 and "libsomething-odd.so.3" in unknown[0] and "dnf provides" in unknown[0]


def test_before_an_x11_window_the_missing_libraries_and_the_install_lines_are_said():
    message = preflight(X11, ldd=fake_ldd(LDD_OUTPUT), plugin=lambda name: Path(f"/venv/libq{name}.so"))
    assert message is not None
    assert "libqxcb.so" in message and "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in message
    assert "sudo dnf install xcb-util-keysyms xcb-util-wm" in message


@pytest.mark.parametrize("env", [
    {"QT_QPA_PLATFORM": "offscreen"},                       # no window system at all
    {"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"},
    {"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"},        # Qt tries Wayland first, then falls back itself
])
def test_other_platforms_are_not_checked(env):
    assert preflight(env, ldd=fake_ldd(LDD_OUTPUT), plugin=lambda name: Path("libqxcb.so")) is None


def test_with_every_library_present_only_a_missing_display_is_reported():
    complete = fake_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n")
    plugin = lambda name: Path("libqxcb.so")  # noqa: E731
    assert preflight(X11, ldd=complete, plugin=plugin) is None
    assert "DISPLAY is not set" in preflight({}, ldd=complete, plugin=plugin)
    assert preflight({"QT_QPA_PLATFORM": "xcb:dpi=96", "DISPLAY": ":1"}, ldd=complete, plugin=plugin) is None


def test_qt_tries_the_platforms_qt_qpa_platform_lists_else_the_sessions():
    assert qt_platform_choice({"QT_QPA_PLATFORM": "wayland;xcb"}) == ["wayland", "xcb"]
    assert qt_platform_choice({"QT_QPA_PLATFORM": "xcb:dpi=96"}) == ["xcb"]
    assert qt_platform_choice({"WAYLAND_DISPLAY": "wayland-0"}) == ["wayland", "xcb"]
    assert qt_platform_choice({"DISPLAY": ":0"}) == ["xcb"]


@pytest.fixture(scope="module")
def plugin_with_a_missing_library(tmp_path_factory):
    """A shared library linked against ``libaegui-gone.so.1``, which is then deleted: what
    a platform plugin looks like to the dynamic linker on a system lacking one of its libraries."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler on Linux to make the fake plugin")
    folder = tmp_path_factory.mktemp("fake-plugin")
    (folder / "gone.c").write_text("int gone(void) { return 1; }\n")
    (folder / "plugin.c").write_text("int gone(void);\nint plugin(void) { return gone(); }\n")
    stub = folder / "libaegui-gone.so.1"
    plugin = folder / "libqfake.so"
    subprocess.run([cc, "-shared", "-fPIC", "-Wl,-soname,libaegui-gone.so.1", "-o", str(stub), str(folder / "gone.c")],
                   check=True)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(plugin), str(folder / "plugin.c"), str(stub)], check=True)
    stub.unlink()
    return plugin


def test_the_real_dynamic_linker_names_the_library_a_plugin_lacks(plugin_with_a_missing_library):
    if shutil.which("ldd") is None:
        pytest.skip("no ldd here")
    assert missing_libraries(plugin_with_a_missing_library) == ["libaegui-gone.so.1"]


def test_without_ldd_loading_the_plugin_names_the_library_it_lacks(plugin_with_a_missing_library):
    assert missing_libraries(plugin_with_a_missing_library, ldd=lambda path: None) == ["libaegui-gone.so.1"]


def test_pyside6s_own_plugins_are_found():
    if qt_platform.platform_plugin("offscreen") is None:
        pytest.skip("PySide6 is not installed here")
    assert qt_platform.platform_plugin("offscreen").name == "libqoffscreen.so"
    assert qt_platform.platform_plugin("no-such-platform") is None


def test_the_readme_lists_every_package_the_check_can_name():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.is_file():
        pytest.skip("no README.md beside the tests")
    text = readme.read_text(encoding="utf-8").replace("\\\n", " ")
    apt = next(line for line in text.splitlines() if line.startswith("sudo apt install")).split()[3:]
    dnf = next(line for line in text.splitlines() if line.startswith("sudo dnf install")).split()[3:]
    x11 = {lib: packages for lib, packages in qt_platform.PACKAGES.items() if "wayland" not in lib}
    assert sorted({debian for debian, _ in x11.values()}) == sorted(apt)
    assert sorted({fedora for _, fedora in x11.values()}) == sorted(dnf)
