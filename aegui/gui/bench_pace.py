"""What the pen's pace costs on this machine: the app's work timed back to back, and with
a pause before each, as it comes while a person draws (``aegui bench app`` prints both).

At 125 moves a second each thread's work follows a pause of a few milliseconds. Where the
machine's caches are shared with busy neighbours (a virtual machine on a shared host), what
that work reads (its code, the model's weights, the interpreter's own state) is gone from
them by the time it runs again, and it runs at the pace of memory instead. The app cannot
keep its caches; the benchmark can say how much losing them costs, so that a CPU figure
over its goal can be read for what it is. Each piece of work is timed in thread CPU time,
alternately in blocks back to back and after ``PAUSE_S`` of busy-waiting: the core stays
awake through the pause, so whatever is lost is lost to others, not to the core's own sleep.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

__all__ = ["PAUSE_S", "READ_BYTES", "drawing_probe", "memory_probe", "move_probe", "paced", "sample_page"]

PAUSE_S = 0.008                # one mouse move's interval at 125 Hz
READ_BYTES = 1568 * 256 * 4    # one of ae-16's two dense layers' weights, read at every drawing


def paced(work: Callable[[], object], repeats: int, pause: float = PAUSE_S, blocks: int = 8) -> tuple[float, float]:
    """(back to back, after a pause): the median thread CPU seconds of ``work()`` run
    ``repeats`` times each way, in ``blocks`` alternating blocks (the machine's state drifts
    over seconds: the drift falls on both), after one untimed run."""
    work()
    times: tuple[list[float], list[float]] = ([], [])
    half = max(1, blocks // 2)
    for block in range(2 * half):
        paused = block % 2
        for _ in range(repeats // half + (block // 2 < repeats % half)):
            if paused:
                _busy_wait(pause)
            start = time.thread_time()
            work()
            times[paused].append(time.thread_time() - start)
    return float(np.median(times[0])), float(np.median(times[1]))


def _busy_wait(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def memory_probe(repeats: int) -> tuple[float, float]:
    """Reading ``READ_BYTES`` (summing them), as a dense layer's product does at every drawing."""
    weights = np.random.default_rng(0).random(READ_BYTES // 4, dtype=np.float32)
    return paced(weights.sum, repeats)


def sample_page(pen_width: float, digit: str = "3") -> np.ndarray:
    """The inked part of a page with a sample ``digit`` drawn on it with a pen of ``pen_width``."""
    from aegui.document import DrawingDocument

    from .samples import digit_strokes

    document = DrawingDocument()
    for stroke in digit_strokes(digit, step=4.0, seed=0):
        document.begin_stroke(*stroke[0], pen_width)
        for xy in stroke[1:]:
            document.extend_stroke(*xy)
        document.end_stroke()
    return document.inked()


def drawing_probe(model: str | None, page: np.ndarray, torch_threads: int, repeats: int) -> tuple[float, float]:
    """One drawing's answer as the inference thread computes it (``Engine.answer``: framing
    the inked ``page``, the model's traced pass, the verdict), with ``model`` (None: the
    default) on this thread, configured as the inference thread is."""
    from aegui.session.protocol import Request

    from .engine import Engine
    from .worker import configure_torch

    configure_torch(torch_threads)
    engine = Engine()
    info = engine.answer(Request("load", 0, 0, (model, "cpu", True), time.perf_counter()))
    request = Request("drawing", 1, info.generation, page, time.perf_counter())
    return paced(lambda: engine.answer(request), repeats)


def move_probe(send_move: Callable[[], object], painted, repeats: int) -> tuple[float, float]:
    """The UI thread's part of one mouse move: ``send_move()`` sends the next move, and the
    event loop runs until ``painted`` (a signal) says its reconstruction is on screen, while
    the inference thread computes it (the wait itself is not the UI thread's CPU time)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    painted.connect(loop.quit)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(loop.quit)       # a move that changed nothing paints nothing

    def move() -> None:
        send_move()
        guard.start(200)
        loop.exec()
        guard.stop()

    try:
        return paced(move, repeats)
    finally:
        painted.disconnect(loop.quit)
