"""``aegui bench app``: how fast the real window follows the pen, measured offscreen.

Replays hand-drawn-looking strokes (``samples``) as real mouse events (press, moves with
the button held, release) into the canvas of the real main window, at a steady 125
moves per second, and measures:

* per mouse-move event, the time from the event until the reconstruction widget has
  painted a result for that drawing or a newer one (when strokes come faster than the
  model, the drawings in between are dropped: the newer result answers them too);
* the longest stall of the UI event loop: the largest gap between the ticks of a 1 ms
  timer (anything the UI thread does, painting included, delays it);
* CPU time: of the UI thread per mouse move (with, apart, what the replay's own timers
  and events cost it, measured alone), of the inference thread per drawing it computed,
  and of the process's other threads per move (a thread pool spinning would show there);
* the time from process start to an interactive window, and to the model being ready,
  in fresh ``python -m aegui`` processes (after one untimed warm-up run, so the file
  cache is warm).

The replay runs ``rounds`` times in the same window. On a shared or virtual machine the CPU
figures wander by up to a third from one replay to the next, in the same process
as much as in another, so each is given as the median of the rounds with their range; the
latencies and the star's placing are taken over every round's moves, and the longest stall
is the longest of all.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from . import bench_pace as pace

__all__ = ["run_app_benchmark"]

MOVE_INTERVAL_MS = 8       # 125 Hz, a common mouse report rate
WARMUP_MOVES = 60
ROUNDS = 5                 # replays of the moves; each CPU figure is the median of the rounds'
PACE_REPEATS = 200         # of each piece of work timed back to back, and as many at the pen's pace
DIGITS = ("3", "7", "2", "8", "0", "4")
GOALS = {"p95_ms": 8.0, "max_stall_ms": 16.0, "start_to_window_s": 3.0, "ui_cpu_ms_per_move": 1.0,
         "inference_cpu_ms_per_drawing": 1.5, "place_star_p95_ms": 0.5}


@dataclass
class _Step:
    kind: str                  # "press" | "move" | "release" | "clear"
    xy: tuple[float, float] = (0.0, 0.0)


def _plan(moves: int, step: float = 4.0) -> list[_Step]:
    """Strokes of sample digits, one digit after another (cleared in between), until
    ``moves`` mouse moves are planned."""
    from .samples import digit_strokes

    plan: list[_Step] = []
    count, round_ = 0, 0
    while count < moves:
        for digit in DIGITS:
            for stroke in digit_strokes(digit, step=step, seed=round_):
                plan.append(_Step("press", tuple(stroke[0])))
                for xy in stroke[1:]:
                    if count == moves:
                        break
                    plan.append(_Step("move", tuple(xy)))
                    count += 1
                plan.append(_Step("release", tuple(stroke[-1])))
            plan.append(_Step("clear"))
            if count == moves:
                break
        round_ += 1
    return plan


def _paced(step, ticks: list[float]) -> float:
    """Run the event loop, calling ``step()`` every MOVE_INTERVAL_MS until it returns
    False, and a 1 ms monitor that notes when it runs in ``ticks``; then 300 ms more for
    the last results. Returns the UI thread's CPU seconds."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    loop = QEventLoop()

    def pace() -> None:
        if not step():
            pacer.stop()
            QTimer.singleShot(300, loop.quit)     # let the last results arrive

    pacer, monitor = QTimer(), QTimer()
    for timer, interval, slot in ((pacer, MOVE_INTERVAL_MS, pace), (monitor, 1, lambda: ticks.append(time.perf_counter()))):
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(interval)
        timer.timeout.connect(slot)
    ui_cpu = time.thread_time()
    monitor.start()
    pacer.start()
    loop.exec()
    monitor.stop()
    return time.thread_time() - ui_cpu


def _mouse(app, widget, kind, local, buttons) -> None:
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QMouseEvent

    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    app.sendEvent(widget, QMouseEvent(kind, local, widget.mapToGlobal(local), button, buttons,
                                      Qt.KeyboardModifier.NoModifier))


def _harness_cost(app, moves: int = 120) -> float:
    """UI CPU per move of the replay's own timers and events, alone: the same pacing and
    monitor sending moves to a bare widget (ms)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtWidgets import QWidget

    widget = QWidget()
    widget.resize(200, 200)
    left, sent = Qt.MouseButton.LeftButton, [0]

    def step() -> bool:
        sent[0] += 1
        _mouse(app, widget, QEvent.Type.MouseMove, QPointF(10 + sent[0] % 100, 20), left)
        return sent[0] < moves

    cpu = _paced(step, [])
    widget.deleteLater()
    return cpu * 1e3 / moves


def _player(app, window, plan: list[_Step]):
    """``play()`` sends the plan's next mouse move to the canvas, with the presses, releases
    and clears before it, and returns (the time it was sent, the drawing's sequence number
    if it posted one, else None); None once the plan is done."""
    from PySide6.QtCore import QEvent, QPointF, Qt

    canvas, session = window.canvas, window.session
    page = canvas.page_rect()
    scale = page.width() / window.document.size
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    kinds = {"press": (QEvent.Type.MouseButtonPress, left), "release": (QEvent.Type.MouseButtonRelease, none),
             "move": (QEvent.Type.MouseMove, left)}
    position = iter(plan)

    def play() -> tuple[float, int | None] | None:
        for item in position:
            if item.kind == "clear":
                window.document.clear()
                continue
            kind, buttons = kinds[item.kind]
            before, sent = session.last_seq, time.perf_counter()
            _mouse(app, canvas, kind, QPointF(page.left() + item.xy[0] * scale, page.top() + item.xy[1] * scale),
                   buttons)
            if item.kind == "move":
                return sent, (session.last_seq if session.last_seq != before else None)
        return None

    return play


def _replay(app, window, plan: list[_Step]) -> dict:
    """Send the plan's events at MOVE_INTERVAL_MS; returns the raw timings and CPU times."""
    session, worker = window.session, window.worker
    events: list[tuple[float, int]] = []       # (time sent, sequence number posted)
    paints: list[tuple[int, float]] = []       # (sequence number painted, time)
    ticks: list[float] = []
    play = _player(app, window, plan)

    def step() -> bool:
        move = play()
        if move is not None and move[1] is not None:
            events.append(move)
        return move is not None     # one move per tick; presses and releases go along

    def painted(seq: int) -> None:
        paints.append((seq, time.perf_counter()))

    window.network.reconstruction.painted.connect(painted)
    served, posted = worker.served["drawing"], session.last_seq
    placed = window.latent_views.place_seconds
    placed_before = len(placed)
    by_kind = dict(worker.cpu_seconds)
    worker_cpu, process_cpu = worker.cpu_time(), time.process_time()
    ui_cpu = _paced(step, ticks)
    worker_cpu, process_cpu = worker.cpu_time() - worker_cpu, time.process_time() - process_cpu
    views_cpu = sum(worker.cpu_seconds[k] - by_kind[k] for k in by_kind if k != "drawing")
    window.network.reconstruction.painted.disconnect(painted)
    return {"events": events, "paints": paints, "ticks": ticks, "ui_cpu_s": ui_cpu, "worker_cpu_s": worker_cpu,
            "other_cpu_s": max(process_cpu - ui_cpu - worker_cpu, 0.0),
            "served": worker.served["drawing"] - served, "posted": session.last_seq - posted,
            "place_s": list(placed[placed_before:]),
            "map_kind": session.map.shown.kind if session.map is not None else None,
            "views_cpu_s": views_cpu}


def _latencies(events, paints) -> np.ndarray:
    """Per event: first paint of a result at least as new as the event's drawing."""
    out = []
    paints = sorted(paints, key=lambda p: p[1])
    for sent, seq in events:
        answered = next((t for s, t in paints if s >= seq and t >= sent), None)
        out.append(np.nan if answered is None else (answered - sent) * 1e3)
    return np.asarray(out)


def _startup(model: str | None, runs: int = 3) -> dict:
    """Start-to-window and start-to-model-ready of fresh processes (first run untimed)."""
    from .app import STARTUP_PROBE

    command = [sys.executable, "-m", "aegui"] + (["--model", model] if model else [])
    env = {**os.environ, STARTUP_PROBE: "1", "QT_QPA_PLATFORM": "offscreen"}
    shown, ready = [], []
    for run in range(runs + 1):
        start = time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        stamps = dict(line.split()[:2] for line in done.stdout.splitlines() if line.startswith("aegui-"))
        if "aegui-window-shown" not in stamps:
            raise RuntimeError(f"the app did not start: {done.stderr.strip()[-2000:]}")
        if run:
            shown.append(float(stamps["aegui-window-shown"]) - start)
            if "aegui-model-ready" in stamps:
                ready.append(float(stamps["aegui-model-ready"]) - start)
    return {"start_to_window_s": float(np.median(shown)), "start_to_window_max_s": float(max(shown)),
            "start_to_model_ready_s": float(np.median(ready)) if ready else None, "runs": runs}


def _measure(model: str | None, events: int, front: tuple[str, ...] = (), rounds: int = 1,
             pace_repeats: int = 0) -> dict | None:
    """The window on ``model`` with the docks named in ``front`` brought to the front,
    warmed up, then replayed ``events`` moves ``rounds`` times: the raw timings of each
    round in ``raw["rounds"]``; with ``pace_repeats``, a move's UI time back to back and
    at the pen's pace in ``raw["pace_move_s"]`` (``bench_pace``). None if the model did
    not load."""
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from .app import ensure_app, freeze_heap, settle, wait_until
    from .main_window import create_window
    from .settings import Settings

    app = ensure_app()       # configures the process as the app's start-up does, if it makes the app
    with tempfile.TemporaryDirectory() as scratch:
        window = create_window(model, settings=Settings(os.path.join(scratch, "settings.ini")),
                               data_dir=os.path.join(scratch, "data"))
        window.modelChanged.connect(freeze_heap)      # as the app does
        window.resize(1360, 860)
        window.show()
        _bring_to_front(window, front)
        # The model and its latent map (the star is placed on it while drawing).
        if not wait_until(lambda: window.session.info is not None and (window.session.map is not None
                                                                       or window.session.info.codes is None),
                          timeout=180):
            window.close()
            gc.unfreeze()
            return None
        settle(window)
        _replay(app, window, _plan(WARMUP_MOVES))
        plan, replays = _plan(events), []
        for _ in range(rounds):
            window.document.clear()
            settle(window)
            replays.append(_replay(app, window, plan))
        raw = {"rounds": replays, "harness_ms_per_move": _harness_cost(app)}
        if pace_repeats:
            play = _player(app, window, _plan(2 * pace_repeats + 20))
            raw["pace_move_s"] = pace.move_probe(play, window.network.reconstruction.painted, pace_repeats)
        raw["pen_width"] = window.canvas.pen_width
        raw["info"], raw["torch_threads"] = window.session.info, window.worker.torch_threads
        raw["qt_platform"] = QApplication.platformName()
        window.close()
    gc.unfreeze()       # the process goes on (a test's): its window's objects may be collected
    return raw


def _bring_to_front(window, names) -> None:
    from PySide6.QtWidgets import QDockWidget

    from aegui.errors import InputError

    for name in names:
        dock = window.findChild(QDockWidget, name)
        if dock is None:
            docks = sorted(d.objectName() for d in window.findChildren(QDockWidget))
            raise InputError(f"--front {name}: no such dock; the window has {', '.join(docks)}")
        dock.show()
        dock.raise_()


def _summary(raw: dict) -> dict:
    """The measures (see the module docstring) and whether they meet the goals."""
    import torch

    replays, info = raw["rounds"], raw["info"]
    latency = np.concatenate([_latencies(r["events"], r["paints"]) for r in replays])
    answered = latency[np.isfinite(latency)]
    stalls = [float(np.diff(r["ticks"]).max()) * 1e3 if len(r["ticks"]) > 1 else 0.0 for r in replays]
    rounds = [_cpu(r, raw["harness_ms_per_move"]) for r in replays]
    posted, served = sum(r["posted"] for r in replays), sum(r["served"] for r in replays)
    return {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__,
                    "torch_threads_inference": raw["torch_threads"], "qt_platform": raw["qt_platform"]},
        "model": info.name, "model_untrained": info.untrained, "latent_dim": info.latent_dim,
        "backend": info.backend, "device": info.device, "drawing_pass": info.drawing_pass,
        "events": len(replays[0]["events"]), "rounds": len(replays), "answered": int(answered.size),
        "move_interval_ms": MOVE_INTERVAL_MS,
        "drawings_posted": posted, "drawings_computed": served, "drawings_dropped_as_stale": int(posted - served),
        "latency_ms": {q: float(np.percentile(answered, int(q[1:]))) for q in ("p50", "p95", "p99")}
        | {"max": float(answered.max()), "mean": float(answered.mean())},
        "max_stall_ms": max(stalls),
        "replay_own_ui_cpu_ms_per_move": raw["harness_ms_per_move"],
        # Each CPU figure: the median of the rounds' (their own in "cpu_by_round").
        **{key: float(np.median([r[key] for r in rounds])) for key in rounds[0]},
        "cpu_by_round": rounds,
        # Placing the star: the drawing's code on the latent map, on the UI thread.
        "map_kind": replays[-1]["map_kind"],
        "place_star_ms": _percentiles(np.concatenate([r["place_s"] for r in replays]) * 1e3),
    }


def _cpu(replay: dict, harness_ms_per_move: float) -> dict:
    """One round's CPU time, whatever else runs on the machine: what each move costs."""
    moves, computed = max(len(replay["events"]), 1), max(replay["served"], 1)
    ui = replay["ui_cpu_s"] * 1e3 / moves
    return {
        # The UI thread's includes the replay's own timers and events (measured alone);
        "ui_thread_cpu_ms_per_move": ui,
        # what a real mouse costs it is the difference (a 1 ms monitor and the pacer are
        # costs of the measuring, not of the app).
        "app_ui_cpu_ms_per_move": max(ui - harness_ms_per_move, 0.0),
        "inference_thread_cpu_ms_per_drawing": replay["worker_cpu_s"] * 1e3 / computed,
        # Of that, what the views that follow the drawing asked for besides it (the
        # paradigm's readings, a traversal: whichever docks were in front).
        "views_cpu_ms_per_drawing": replay["views_cpu_s"] * 1e3 / computed,
        # The rest of the process (a thread pool spinning shows here).
        "other_threads_cpu_ms_per_move": replay["other_cpu_s"] * 1e3 / moves,
    }


def _pace(raw: dict, model: str | None, repeats: int) -> dict:
    """The same work back to back and after a pause of one move's interval (ms, medians)."""
    page = pace.sample_page(raw["pen_width"])
    drawing = pace.drawing_probe(model, page, raw["torch_threads"], repeats)
    return {"pause_ms": pace.PAUSE_S * 1e3, "repeats": repeats, "read_bytes": pace.READ_BYTES,
            **{name: [seconds * 1e3 for seconds in pair] for name, pair in (
                ("move_ui_ms", raw["pace_move_s"]), ("drawing_ms", drawing),
                ("read_ms", pace.memory_probe(repeats)))}}


def _percentiles(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"p50": None, "p95": None, "max": None, "count": 0}
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "max": float(values.max()), "count": int(values.size)}


def run_app_benchmark(model: str | None = None, events: int = 600, json_path: str | None = None,
                      front: list[str] | tuple[str, ...] = (), rounds: int | None = None,
                      pace_repeats: int | None = None) -> int:
    """Measure the window's stroke-to-reconstruction latency, stalls and CPU over ``rounds``
    replays of ``events`` moves, with the docks named in ``front`` brought to the front,
    and what the pen's pace costs on this machine (``bench_pace``, ``pace_repeats`` of each
    piece of work each way; 0: not measured); print a table (``rounds``: ``ROUNDS`` and
    ``pace_repeats``: ``PACE_REPEATS`` unless given)."""
    rounds = ROUNDS if rounds is None else rounds
    pace_repeats = PACE_REPEATS if pace_repeats is None else pace_repeats
    if events < 1 or rounds < 1 or pace_repeats < 0:
        print("aegui bench app: --events and --rounds must be positive, --pace not negative", file=sys.stderr)
        return 2
    raw = _measure(model, events, tuple(front), rounds, pace_repeats)
    if raw is None:
        print("aegui bench app: the model did not load", file=sys.stderr)
        return 1
    result = {**_summary(raw), **_startup(model), "goals": GOALS}
    if pace_repeats:
        result["pace"] = _pace(raw, model, pace_repeats)
    result["goals_met"] = {
        "p95_ms": result["latency_ms"]["p95"] <= GOALS["p95_ms"],
        "max_stall_ms": result["max_stall_ms"] <= GOALS["max_stall_ms"],
        "start_to_window_s": result["start_to_window_s"] <= GOALS["start_to_window_s"],
        "ui_cpu_ms_per_move": result["app_ui_cpu_ms_per_move"] <= GOALS["ui_cpu_ms_per_move"],
        "inference_cpu_ms_per_drawing": result["inference_thread_cpu_ms_per_drawing"]
        <= GOALS["inference_cpu_ms_per_drawing"],
        "place_star_p95_ms": (result["place_star_ms"]["p95"] or 0.0) <= GOALS["place_star_p95_ms"],
    }
    _print(result)
    if json_path:
        from aegui.atomic_files import write_bytes_atomic

        write_bytes_atomic(json_path, (json.dumps(result, indent=2) + "\n").encode())
    return 0


def _print(r: dict) -> None:
    lat, goals, met = r["latency_ms"], r["goals"], r["goals_met"]
    mark = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    m = r["machine"]
    print(f"aegui bench app: {r['events']} mouse moves at {1000 // r['move_interval_ms']} Hz through the "
          f"real window ({m['qt_platform']}), {r['rounds']} round{'s' if r['rounds'] > 1 else ''}")
    print(f"machine: {m['platform']}, {m['cpus']} CPUs (load average {m['load_average_1min']:.1f} "
          f"during the run), Python {m['python']}, torch {m['torch']} "
          f"({m['torch_threads_inference']} inference thread)")
    untrained = ", untrained" if r["model_untrained"] else ""
    print(f"model: {r['model']}{untrained} (z: {r['latent_dim']}, map: {r['map_kind']}), backend {r['backend']}, device {r['device']}, "
          f"drawing's pass {r['drawing_pass']}; of {r['drawings_posted']} drawings posted (moves, presses, clears) {r['drawings_computed']} "
          f"were computed, {r['drawings_dropped_as_stale']} dropped as stale")
    print()
    print(f"{'measure':<40}{'value':>12}{'goal':>12}")
    rows = [("move -> reconstruction on screen p50", f"{lat['p50']:.2f} ms", ""),
            ("move -> reconstruction on screen p95", f"{lat['p95']:.2f} ms",
             f"<= {goals['p95_ms']:g} ms {mark(met['p95_ms'])}"),
            ("move -> reconstruction on screen p99", f"{lat['p99']:.2f} ms", ""),
            ("move -> reconstruction on screen max", f"{lat['max']:.2f} ms", ""),
            ("longest UI event-loop stall", f"{r['max_stall_ms']:.2f} ms",
             f"<= {goals['max_stall_ms']:g} ms {mark(met['max_stall_ms'])}"),
            ("process start -> window (warm, median)", f"{r['start_to_window_s']:.2f} s",
             f"<= {goals['start_to_window_s']:g} s {mark(met['start_to_window_s'])}")]

    def cpu(key: str, goal: str = "") -> tuple[str, str]:
        """The median of the rounds, and their range after the goal."""
        spread = [round_[key] for round_ in r["cpu_by_round"]]
        if len(spread) > 1:
            goal += f"{'   ' if goal else ''}(rounds: {min(spread):.2f}-{max(spread):.2f})"
        return f"{r[key]:.2f} ms", goal

    rows += [("UI thread CPU per move", *cpu("ui_thread_cpu_ms_per_move")),
             ("  of which the replay's own timers", f"{r['replay_own_ui_cpu_ms_per_move']:.2f} ms", ""),
             ("  the app's own (the difference)", *cpu("app_ui_cpu_ms_per_move",
              f"<= {goals['ui_cpu_ms_per_move']:g} ms {mark(met['ui_cpu_ms_per_move'])}")),
             ("inference thread CPU per drawing", *cpu("inference_thread_cpu_ms_per_drawing",
              f"<= {goals['inference_cpu_ms_per_drawing']:g} ms {mark(met['inference_cpu_ms_per_drawing'])}")),
             ("  of which the views besides the drawing", *cpu("views_cpu_ms_per_drawing")),
             ("other threads' CPU per move", *cpu("other_threads_cpu_ms_per_move"))]
    place = r["place_star_ms"]
    if place["count"]:
        rows += [("  UI: placing the star on the map p50", f"{place['p50'] * 1e3:.0f} us", ""),
                 ("  UI: placing the star on the map p95", f"{place['p95'] * 1e3:.0f} us",
                  f"<= {goals['place_star_p95_ms'] * 1e3:g} us {mark(met['place_star_p95_ms'])}")]
    if r.get("start_to_model_ready_s") is not None:
        rows.append(("process start -> model ready (median)", f"{r['start_to_model_ready_s']:.2f} s", ""))
    for name, value, goal in rows:
        print(f"{name:<40}{value:>12}   {goal}")
    if r["rounds"] > 1:
        print(f"CPU per move and per drawing: the median of the {r['rounds']} rounds; latencies and the star: "
              f"all rounds' moves; the stall: the longest of all")
    if "pace" in r:
        _print_pace(r["pace"])
    if r["events"] < 500:
        print("note: the goals are stated over at least 500 moves (--events 500 or more)")


def _print_pace(p: dict) -> None:
    print()
    print(f"the same work back to back, and after {p['pause_ms']:g} ms of busy-waiting (one move's interval: "
          f"the pen's pace); thread CPU, medians of {p['repeats']} each way:")
    print(f"{'':<48}{'back to back':>14}{'paced':>10}")
    for name, key in (("UI: a move until its reconstruction is painted", "move_ui_ms"),
                      ("inference: one drawing's answer", "drawing_ms"),
                      (f"reading {p['read_bytes'] / 1e6:.1f} MB (a dense layer's weights)", "read_ms")):
        warm, paced = p[key]
        print(f"  {name:<46}{warm:>11.3f} ms{paced:>7.3f} ms   x{paced / warm:.1f}")
