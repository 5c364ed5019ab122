"""Specification of ``aegui doctor``: the report a bug needs, as plain text: versions, the
op's backend and CPU kernels, GPUs, Qt's platform and missing system libraries, folders;
a part that fails is reported and the rest still printed."""

from __future__ import annotations

import platform
import subprocess
import sys

import numpy as np
import torch

from aegui import doctor, models, ops
from aegui.cli import main


def test_the_report_names_versions_backend_gpus_qt_and_folders(tmp_path):
    text = doctor.report({"AEGUI_DATA": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"})
    sections = [line for line in text.splitlines() if line.startswith("[")]
    assert sections == ["[versions]", "[op]", "[GPUs]", "[Qt]", "[folders]"]
    assert f"Python       {platform.python_version()}" in text
    assert f"torch        {torch.__version__}" in text and f"numpy        {np.__version__}" in text
    assert f"backend      cpu: {ops.backend('cpu')}" in text
    if ops.backend("cpu") == "cpu":
        assert f"kernels {torch.ops.aegui.cpu_isa('')}" in text
    if not torch.cuda.is_available():
        assert "CUDA" in text.split("[GPUs]")[1].split("[Qt]")[0]
    assert "tries        offscreen" in text and "libqoffscreen.so" in text
    assert f"$AEGUI_DATA  {tmp_path} (exists)" in text
    assert f"shipped      {models.zoo.MODELS_DIR}: {', '.join(models.available())}" in text
    assert "Traceback" not in text


def test_a_part_that_fails_is_reported_and_the_others_still_print(monkeypatch):
    def broken(env):
        raise RuntimeError("the driver fell over")

    monkeypatch.setattr(doctor, "_gpus", broken)
    text = doctor.report({})
    assert "[GPUs]\n  error        RuntimeError: the driver fell over\n" in text
    assert "[Qt]" in text and "shipped" in text


def test_aegui_doctor_prints_the_report_and_needs_no_display(capsys):
    assert main(["doctor"]) == 0
    assert capsys.readouterr().out.startswith("aegui doctor")
    done = subprocess.run([sys.executable, "-m", "aegui", "doctor"], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home"})
    assert done.returncode == 0, done.stderr
    assert "[folders]" in done.stdout and "DISPLAY unset" in done.stdout
