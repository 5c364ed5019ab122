"""``aegui`` takes Qt's own command-line options (``-style Fusion``, ``-platform xcb``,
``-reverse``...) and hands them to Qt, as every Qt program does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aegui import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv, ours, qt", [
    (["-style", "Fusion"], [], ["-style", "Fusion"]),
    (["--style=Fusion", "--model", "ae-2"], ["--model", "ae-2"], ["--style=Fusion"]),
    (["--model", "ae-2", "-platform", "xcb", "-reverse"], ["--model", "ae-2"], ["-platform", "xcb", "-reverse"]),
    (["screenshot", "out.png", "-stylesheet", "my.qss"], ["screenshot", "out.png"], ["-stylesheet", "my.qss"]),
    (["train", "--data", "x.npz", "--", "-style"], ["train", "--data", "x.npz", "--", "-style"], []),
])
def test_qt_options_are_told_apart_from_aeguis(argv, ours, qt):
    assert cli.split_qt_options(argv) == (ours, qt)


def test_the_app_gets_qt_options_and_other_commands_refuse_them(monkeypatch, capsys):
    seen = {}
    import aegui.gui.app as app

    monkeypatch.setattr(app, "run_app", lambda model=None, qt_options=(): seen.update(model=model, qt=qt_options) or 0)
    assert cli.main(["-style", "Fusion", "--model", "ae-2"]) == 0
    assert seen == {"model": "ae-2", "qt": ["-style", "Fusion"]}
    with pytest.raises(SystemExit) as stop:
        cli.main(["eval", "ae-2", "-style", "Fusion"])
    assert stop.value.code == 2 and "for the app, not aegui eval" in capsys.readouterr().err


def test_a_qt_style_option_reaches_qt(tmp_path):
    # A process of its own: its QApplication is made from the command line, as the app's is.
    script = ("import sys\nfrom aegui import cli\nimport aegui.gui.app as app\n"
              "def run(model=None, qt_options=()):\n"
              "    print(app.ensure_app([sys.argv[0], *qt_options]).style().name())\n    return 0\n"
              "app.run_app = run\nsys.exit(cli.main(['-style', 'Windows']))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "windows"
