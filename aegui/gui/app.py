"""Application entry points: ``run_app`` (the ``aegui`` command) and ``screenshot``
(``aegui screenshot PATH``), plus the QApplication setup both share.

``AEGUI_STARTUP_PROBE=1`` makes ``run_app`` print when its window is on screen and when
its model is ready (``time.time()`` stamps), then quit: ``aegui bench app`` measures the
start-up time with it.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time

from PySide6.QtCore import QCoreApplication, QEventLoop, QSize, QTimer
from PySide6.QtWidgets import QApplication

from aegui.desktop_entry import APP_ID
from aegui.qt_platform import preflight

from .icon import app_icon
from .settings import APPLICATION, ORGANIZATION, Settings

__all__ = ["STARTUP_PROBE", "configure_process", "draw_sample", "ensure_app", "freeze_heap", "run_app", "screenshot",
           "settle", "wait_until"]

STARTUP_PROBE = "AEGUI_STARTUP_PROBE"
SCREENSHOT_SIZE = (1360, 860)
SWITCH_INTERVAL_S = 0.0005


def configure_process() -> None:
    """Process-wide settings of the app, made once at start-up.

    * While another thread runs Python code, the UI thread waits up to the interpreter's
      switch interval (5 ms by default) for the GIL: far too long for following a pen.
    * numpy's BLAS gets one thread. The app's threads are the UI thread and the inference
      thread (which sizes torch's pool itself); numpy's small products (framing a drawing
      is two of them) gain nothing from a second BLAS thread, whose workers spin after
      every call, burning about as much CPU per mouse move as the UI thread uses on a
      two-core machine and slowing the very thread that called them.
    """
    from threadpoolctl import threadpool_limits

    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    threadpool_limits(1, user_api="blas")


def freeze_heap(_info=None) -> None:
    """Leave what the process holds out of Python's full garbage collections
    (``gc.freeze``), after collecting the younger generations. The app calls it each time
    a model is ready.

    A full collection walks every object the process holds, and with torch, Qt and the app
    loaded that is some 220,000: 0.1-0.15 s on a 2-core EPYC, with Python's lock held, so
    the window stops. Python starts one now and then as objects pile up: in eight replays of
    600 moves in one window (38 s of drawing), one took 153 ms. What exists once a model is
    loaded (the libraries, the window, the model) stays until the app ends; frozen, it is
    left out, and a full collection walks only what came after (a few thousand objects).
    Frozen objects are still freed when nothing refers to them; only a cycle among them
    would stay. The younger generations, where new garbage is, are collected first (2 ms);
    a full collection first would itself stop the window for 0.13 s, to find 17 objects
    at start-up."""
    gc.collect(1)
    gc.freeze()


def ensure_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication, created (with the app's names, and the process configured for
    it: ``configure_process``) if there is none yet."""
    app = QApplication.instance()
    if app is None:
        configure_process()
        QCoreApplication.setOrganizationName(ORGANIZATION)
        QCoreApplication.setApplicationName(APPLICATION)
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationDisplayName("aegui")
        app.setWindowIcon(app_icon())
        # Wayland names the app by its desktop entry (aegui install-desktop): its icon in the task bar.
        app.setDesktopFileName(APP_ID)
    return app


def run_app(model: str | None = None, qt_options: list[str] | tuple = ()) -> int:
    """Open the main window on ``model`` (or the last used / default one) and run;
    ``qt_options`` go to Qt (``-style Fusion``...)."""
    from .main_window import create_window

    problem = preflight(_platform_env(qt_options))
    if problem:   # Qt would abort, naming the wrong library; say what is missing instead
        print(problem, file=sys.stderr)
        return 1
    app = ensure_app([sys.argv[0], *qt_options])
    probe = bool(os.environ.get(STARTUP_PROBE))
    scratch = tempfile.TemporaryDirectory() if probe else None
    settings = Settings(os.path.join(scratch.name, "settings.ini")) if scratch else None
    data_dir = os.path.join(scratch.name, "data") if scratch else None   # the user's folder stays untouched
    window = create_window(model, settings=settings, data_dir=data_dir)
    window.modelChanged.connect(freeze_heap)
    # From here on, an exception anywhere is logged and told, and the app goes on.
    window.reporter.install()
    app.aboutToQuit.connect(window.shutdown)
    app.aboutToQuit.connect(window.reporter.uninstall)
    window.show()
    if probe:
        _probe_startup(app, window)
    code = app.exec()
    if scratch is not None:
        scratch.cleanup()
    return int(code)


def _platform_env(qt_options) -> dict:
    """The environment as Qt will see it: ``-platform NAME`` among Qt's options overrides
    $QT_QPA_PLATFORM."""
    env = dict(os.environ)
    options = list(qt_options)
    for i, token in enumerate(options):
        name, _, value = token.lstrip("-").partition("=")
        if name == "platform":
            env["QT_QPA_PLATFORM"] = value or (options[i + 1] if i + 1 < len(options) else "")
    return env


def _probe_startup(app: QApplication, window) -> None:
    def stamp(what: str) -> None:
        print(f"aegui-{what} {time.time():.6f}", flush=True)

    # A zero timer fires once the event loop runs, i.e. when the window is on screen
    # and answering input.
    QTimer.singleShot(0, lambda: stamp("window-shown"))

    def ready(_info) -> None:
        stamp("model-ready")
        # What a full garbage collection walks now, and what it leaves alone (freeze_heap).
        print(f"aegui-heap {len(gc.get_objects())} tracked {gc.get_freeze_count()} frozen", flush=True)
        QTimer.singleShot(0, window.close)
        QTimer.singleShot(0, app.quit)

    window.modelChanged.connect(ready)


def wait_until(predicate, timeout: float = 30.0) -> bool:
    """Run the event loop until ``predicate()`` holds or ``timeout`` seconds pass."""
    end = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > end:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)
    return True


def settle(window, timeout: float = 30.0) -> bool:
    """Wait until the window's inference thread is idle and its results are shown, the
    views that follow them at a slower pace (``Throttle``) included."""
    from .actions import Throttle

    end = time.perf_counter() + timeout
    calm = 0
    while calm < 3:   # idle across several passes of the event loop: nothing in flight
        if time.perf_counter() > end:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        idle = window.worker.is_idle() and not any(t.pending() for t in window.findChildren(Throttle))
        calm = calm + 1 if idle else 0
        time.sleep(0.002)
    return True


def draw_sample(window, digit: str, seed: int = 0) -> None:
    """Draw a sample digit on the window's canvas through its document."""
    from .samples import digit_strokes

    document = window.document
    for stroke in digit_strokes(digit, seed=seed):
        document.begin_stroke(*stroke[0], width=window.canvas.pen_width)
        for x, y in stroke[1:]:
            document.extend_stroke(x, y)
        document.end_stroke()


def screenshot(path: str, model: str | None = None, qt_options: list[str] | tuple = ()) -> int:
    """Draw sample digits offscreen (pins A and B, then a third) and save the window."""
    from aegui import exports

    from .export_menu import image_pixels
    from .main_window import create_window

    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    ensure_app([sys.argv[0], *qt_options])
    with tempfile.TemporaryDirectory() as scratch:
        window = create_window(model, settings=Settings(os.path.join(scratch, "settings.ini")),
                               data_dir=os.path.join(scratch, "data"))
        window.lay_out(QSize(*SCREENSHOT_SIZE))
        window.show()
        if not wait_until(lambda: window.session.info is not None, timeout=120):
            print("aegui screenshot: the model did not load in time", file=sys.stderr)
            window.close()
            return 1
        for which, digit in (("a", "7"), ("b", "3")):
            draw_sample(window, digit)
            settle(window)
            window.session.pin(which)
            window.document.clear()
        window.interpolation_panel.set_t(0.4)
        draw_sample(window, "2")
        settle(window)
        try:
            exports.write(path, exports.png_bytes(image_pixels(window.grab().toImage())))
        except OSError as err:
            print(f"aegui screenshot: {err}", file=sys.stderr)
            return 1
        finally:
            window.close()
    print(f"wrote {path}")
    return 0
