"""Entry points: ``aegui`` itself (start-up probe), ``aegui screenshot``, ``aegui bench app``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtGui import QImage

from aegui.gui import bench_app
from aegui.gui.app import SCREENSHOT_SIZE, STARTUP_PROBE, screenshot


def test_aegui_opens_its_window_before_the_model_is_ready_and_quits_cleanly():
    env = {**os.environ, STARTUP_PROBE: "1", "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "aegui"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    stamps = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.startswith("aegui-")}
    assert float(stamps["aegui-window-shown"][0]) <= float(stamps["aegui-model-ready"][0])
    assert "Traceback" not in done.stderr
    # Once the model is ready, what the app holds is out of Python's full collections
    # (one walking all of it stopped the window for 0.15 s now and then while drawing):
    # they walk a few thousand objects, not hundreds of thousands.
    tracked, frozen = (int(n) for n in stamps["aegui-heap"][::2])
    assert frozen > 100_000 and tracked < frozen / 20


def test_screenshot_draws_sample_digits_and_saves_the_window(qapp, tmp_path):
    path = tmp_path / "shot.png"
    assert screenshot(str(path)) == 0
    image = QImage(str(path))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    assert image.pixelColor(300, 450).name() != image.pixelColor(30, 80).name()  # ink on the page


def test_the_latency_of_an_event_is_the_first_paint_of_a_result_as_new():
    events = [(1.000, 5), (1.010, 6), (1.020, 7)]
    paints = [(4, 1.001), (5, 1.004), (7, 1.030), (8, 1.050)]
    np.testing.assert_allclose(bench_app._latencies(events, paints), [4.0, 20.0, 10.0])
    assert np.isnan(bench_app._latencies([(2.0, 9)], paints)[0])


def test_the_plan_replays_whole_strokes_with_the_asked_number_of_moves():
    plan = bench_app._plan(250)
    kinds = [step.kind for step in plan]
    assert kinds.count("move") == 250
    assert kinds.count("press") == kinds.count("release") >= 3
    assert kinds[0] == "press" and kinds[-1] == "clear"


def test_bench_app_measures_the_real_window(qapp, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_app, "_startup", lambda model: {
        "start_to_window_s": 1.0, "start_to_window_max_s": 1.0, "start_to_model_ready_s": 2.0, "runs": 0})
    out = tmp_path / "bench.json"
    assert bench_app.run_app_benchmark(events=40, json_path=str(out), rounds=3, pace_repeats=6) == 0
    result = json.loads(out.read_text())
    # Three replays of 40 moves: the latencies are of all 120, each CPU figure the median round's.
    assert result["events"] == 40 and result["rounds"] == 3 and result["answered"] == 120
    assert len(result["cpu_by_round"]) == 3
    for key, value in result["cpu_by_round"][0].items():
        assert value >= 0 and result[key] == sorted(r[key] for r in result["cpu_by_round"])[1]
    assert 0 <= result["drawings_dropped_as_stale"] < result["drawings_posted"]
    lat = result["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert result["max_stall_ms"] > 0
    assert set(result["goals_met"]) == {"p95_ms", "max_stall_ms", "start_to_window_s", "ui_cpu_ms_per_move",
                                      "inference_cpu_ms_per_drawing", "place_star_p95_ms"}
    # The star was placed on the shipped model's neighbour map while drawing, and timed.
    place = result["place_star_ms"]
    assert result["map_kind"] == "neighbours" and place["count"] > 0 and 0 < place["p50"] <= place["p95"]
    assert result["ui_thread_cpu_ms_per_move"] > result["replay_own_ui_cpu_ms_per_move"] > 0
    for round_ in result["cpu_by_round"]:
        assert round_["app_ui_cpu_ms_per_move"] == pytest.approx(
            round_["ui_thread_cpu_ms_per_move"] - result["replay_own_ui_cpu_ms_per_move"])
    assert result["inference_thread_cpu_ms_per_drawing"] > 0 and result["other_threads_cpu_ms_per_move"] >= 0
    # What the pen's pace costs here: each piece of work back to back and paced, in ms.
    pace = result["pace"]
    assert pace["pause_ms"] == 8 and pace["repeats"] == 6
    for key in ("move_ui_ms", "drawing_ms", "read_ms"):
        assert len(pace[key]) == 2 and min(pace[key]) > 0


def test_start_up_gives_numpy_one_blas_thread_and_a_short_switch_interval():
    # In a fresh interpreter: these are the process's settings, not this test run's.
    code = ("import numpy, sys, threadpoolctl\n"
            "from aegui.gui.app import configure_process\n"
            "configure_process()\n"
            "blas = [p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas']\n"
            "print(blas, sys.getswitchinterval())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    blas, interval = done.stdout.rsplit(maxsplit=1)
    assert set(json.loads(blas)) == {1} and float(interval) <= 0.0005
