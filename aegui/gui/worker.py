"""The inference thread: the only place where the app runs the model.

The pattern of Qt's Mandelbrot example: the UI thread posts requests and returns at
once; the thread computes and emits the answers, which Qt queues back to the UI thread.
Each kind of request (``aegui.session.protocol.KINDS``) has one slot holding only the
newest request of that kind, so while the model is busy, strokes that arrive overwrite
each other and only the latest drawing is computed: stale requests are dropped, never
queued. The session drops answers that are stale by the time they arrive.

"map" requests (fitting the latent map of a new model) run on a thread of their own, so
that fitting never holds up the pen. ``request_copy`` hands out a copy of the model's
weights, made on this thread between two requests: fine-tuning trains the copy, and
nothing reads the model in use from another thread.

torch (and the models) are imported on this thread when the first model loads, so that
the window is on screen first. The thread runs torch on ``torch_threads`` intra-op
threads (one less than the cores, at most four): on a small machine a core stays with the UI.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QThread, Signal

from aegui.session.protocol import KINDS, Request

from .engine import Engine, fit_map
from .incidents import incident_from

__all__ = ["InferenceThread", "configure_torch", "inference_threads"]


def inference_threads() -> int:
    """The torch threads the inference thread uses: one core stays with the UI."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def configure_torch(threads: int) -> None:
    """torch as the inference thread runs it (process-wide settings): ``threads`` intra-op
    threads, and no oneDNN."""
    import torch

    torch.set_num_threads(threads)
    # oneDNN's convolutions cost more than they save on one image at a time: ae-16
    # encodes and decodes a drawing in 0.41-0.49 ms without them, 0.77-0.80 ms with
    # (1 thread, AVX2 EPYC); a fine-tuning batch of 64 or 256 trains no slower without.
    torch.backends.mkldnn.enabled = False


class InferenceThread(QThread):
    """Post requests with ``post``; answers come back through ``answered``."""

    answered = Signal(object)          # an answer for the session (aegui.session.protocol)
    failed = Signal(object)            # an Incident: a request failed (the model stays, the thread goes on)

    def __init__(self, parent=None, torch_threads: int | None = None):
        super().__init__(parent)
        self.setObjectName("inference")
        self.torch_threads = torch_threads or inference_threads()
        # A reading of the paradigm's views gives way to a drawing or a model waiting: it is
        # of an older drawing, and the views ask again once the pen rests.
        self._engine = Engine(interrupted=lambda: "drawing" in self._pending or "load" in self._pending)
        self._cond = threading.Condition()
        self._pending: dict[str, Request] = {}
        self._copies: list[Future] = []
        self._busy = False
        self._abort = False
        self._maps = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latent-map")
        self._maps_running = 0
        self._thread_id: int | None = None
        # Requests served and the CPU seconds they took, per kind (for ``aegui bench app``).
        self.served: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.cpu_seconds: dict[str, float] = dict.fromkeys(KINDS, 0.0)

    # ------------------------------------------------------------------ any thread

    def post(self, request: Request) -> None:
        """Queue ``request``, replacing a pending one of its kind (newest wins)."""
        if request.kind == "map":
            self._fit_map(request)
            return
        if request.kind not in KINDS:
            raise ValueError(f"not a kind of request: {request.kind!r}")
        with self._cond:
            self._pending[request.kind] = request
            self._cond.notify()

    def request_copy(self) -> Future:
        """A future of a copy of the model in use (None before the first model), made on
        this thread between two requests. Wait for it anywhere but on the UI thread."""
        future: Future = Future()
        with self._cond:
            self._copies.append(future)
            self._cond.notify()
        return future

    def is_idle(self) -> bool:
        """Nothing pending and nothing being computed (answers may still be in flight)."""
        with self._cond:
            return not self._pending and not self._copies and not self._busy and not self._maps_running

    def cpu_time(self) -> float:
        """CPU seconds this thread has used so far (0 before it runs)."""
        if self._thread_id is None:
            return 0.0
        return time.clock_gettime(time.pthread_getcpuclockid(self._thread_id))

    def stop(self, timeout_ms: int = 10000) -> None:
        """Drop pending requests, end the thread and wait for it."""
        with self._cond:
            self._abort = True
            self._pending.clear()
            self._cond.notify()
        if self.isRunning():
            self.wait(timeout_ms)
        self._maps.shutdown(wait=True, cancel_futures=True)
        for future in self._copies:
            future.cancel()

    # ------------------------------------------------------------------ this thread

    def run(self) -> None:
        self._thread_id = threading.get_ident()
        configure_torch(self.torch_threads)
        while True:
            with self._cond:
                while not self._pending and not self._copies and not self._abort:
                    self._cond.wait()
                if self._abort:
                    return
                copies, self._copies = self._copies, []
                request = None if copies else self._pending.pop(next(k for k in KINDS if k in self._pending))
                self._busy = True
            try:
                if copies:
                    self._copy(copies)
                else:
                    self._serve(request)
            finally:
                with self._cond:
                    self._busy = False

    def _serve(self, request: Request) -> None:
        started = time.thread_time()
        answer = None
        try:
            answer = self._engine.answer(request)
        except Exception as err:  # noqa: BLE001 - reported, and the thread goes on
            self.failed.emit(incident_from(err, f"inference thread ({request.kind})"))
        finally:
            # Counted before the answer goes out: whoever it reaches sees it counted.
            self.cpu_seconds[request.kind] += time.thread_time() - started
            self.served[request.kind] += 1
        if answer is not None:
            self.answered.emit(answer)

    def _copy(self, futures: list[Future]) -> None:
        try:
            model = self._engine.copy_model()
        except Exception as err:  # noqa: BLE001 - the one who asked gets the error
            for future in futures:
                future.set_exception(err)
            return
        for i, future in enumerate(futures):
            if future.set_running_or_notify_cancel():
                future.set_result(model if i == 0 else self._engine.copy_model())

    def _fit_map(self, request: Request) -> None:
        with self._cond:
            if self._abort:
                return
            self._maps_running += 1
        job = self._maps.submit(fit_map, request)
        job.add_done_callback(self._map_done)

    def _map_done(self, job: Future) -> None:
        try:
            if not job.cancelled():
                error = job.exception()
                if error is None:
                    self.answered.emit(job.result())
                else:
                    self.failed.emit(incident_from(error, "latent-map thread"))
        finally:
            with self._cond:
                self._maps_running -= 1
