"""``Session``: what the app knows, in plain Python, and the one rule for stale results.

The session owns the model's description (``info``), the latent map (``map``), the
current drawing's result (``drawing``), what the reconstruction view shows (``output``),
the latent edit (``edit``), the interpolation's pins and mix, the traversal and manifold
decodings, and the paradigm's reading of the drawing (``reading``). Widgets observe it
through its signals and send it intents (``edit_value``, ``pin``, ``request_traversal``,
...); it turns intents into requests for whoever computes (``post``) and answers into
state (``receive``). It never computes with the model and never waits.

The one rule for stale results (``_fresh``): an answer is taken only if it was made for
the model now loaded and answers a request newer than anything its slot took before. An
intent that makes a slot's requests moot (resetting an edit, pinning again, a new model)
raises the slot's floor to the newest request, which drops whatever is still in flight.
The reconstruction view is shared by the drawing and the edit: the newer intent wins. A
drawing answer newer than the last edit request ends the edit; an older one updates the
drawing's code under the edit, which stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aegui import traversal

from .edits import Interpolation, LatentEdit
from .protocol import Decoded, DrawingResult, LoadFailed, MapReady, ModelInfo, Read, ReadingAsk, Request

__all__ = ["Output", "SLOTS", "Session", "Signal"]

# What answers are taken into; each has its own floor (see the module docstring).
SLOTS = ("drawing", "edit", "interp", "pin", "reading", "strip", "traversal", "manifold", "map")


class Signal:
    """A Qt-free signal: ``connect(fn)``; ``emit(*args)`` calls each listener in order."""

    def __init__(self):
        self._listeners: list[Callable] = []

    def connect(self, listener: Callable) -> None:
        self._listeners.append(listener)

    def emit(self, *args) -> None:
        for listener in list(self._listeners):
            listener(*args)


@dataclass(frozen=True, eq=False)
class Output:
    """What the reconstruction view shows: the drawing's reconstruction, or an edited code
    decoded. ``error`` is the drawing's; ``code`` the code shown decoded."""

    image: np.ndarray            # (28, 28) in [0, 1]
    code: np.ndarray | None      # (Z,)
    error: float | None
    edited: bool
    seq: int                     # the request it answers
    guess: object | None = None  # the verdict on ``code`` (the drawing's, or the edited code's)


class Session:
    """See the module docstring. ``post(request)`` hands a ``Request`` to whoever
    computes; ``raster()`` returns the drawing as the network gets it (2-D uint8, ink
    bright; the page, or any part of it that holds all of its ink: see
    ``DrawingDocument.inked``)."""

    def __init__(self, post: Callable[[Request], None], raster: Callable[[], np.ndarray],
                 device: str = "cpu", clock: Callable[[], float] = time.perf_counter):
        self._post, self._raster, self._clock = post, raster, clock
        self.device = device           # the device asked for (the model's once loaded)
        self._seq = 0
        self._floor = dict.fromkeys(SLOTS, 0)
        self._edit_asked = 0           # seq of the newest edit request
        self.info: ModelInfo | None = None
        self.map = None                # MapReady.layout, once fitted for this model
        self.edit = LatentEdit(0)
        self.interpolation = Interpolation()
        self._clear_views()
        self.latency_ms: float | None = None
        self.model_changed = Signal()      # (info): a new model; everything else is reset
        self.model_failed = Signal()       # (what, why): the model stays
        self.map_changed = Signal()        # (layout)
        self.drawing_changed = Signal()    # (result): the frame, the code, the verdict
        self.output_changed = Signal()     # (output)
        self.code_changed = Signal()       # (): the user edited the code, or reset it
        self.pins_changed = Signal()       # ()
        self.mix_changed = Signal()        # (image)
        self.strip_changed = Signal()      # (images)
        self.traversal_changed = Signal()  # (traversal or None)
        self.manifold_changed = Signal()   # (xy, images), or (None, None)
        self.reading_changed = Signal()    # (reading or None): the paradigm's views

    def _clear_views(self) -> None:
        self.drawing: DrawingResult | None = None
        self.output: Output | None = None
        self.mixed: np.ndarray | None = None       # the interpolation at t, decoded
        self.strip: np.ndarray | None = None       # (STEPS, 28, 28) from A to B
        self.traversal: traversal.Traversal | None = None
        self.manifold: tuple[np.ndarray, np.ndarray] | None = None   # xy (n, n, 2), images
        self.reading = None                        # aegui.paradigm.DrawingReading of the drawing

    # ------------------------------------------------------------------ requests

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest request posted."""
        return self._seq

    def _ask(self, kind: str, payload) -> int:
        self._seq += 1
        generation = self.info.generation if self.info is not None else 0
        self._post(Request(kind, self._seq, generation, payload, self._clock()))
        return self._seq

    def _drop_pending(self, *slots: str) -> None:
        """Make every request of these slots posted so far moot."""
        for slot in slots:
            self._floor[slot] = self._seq

    def _fresh(self, slot: str, answer) -> bool:
        """The one rule for stale results (see the module docstring); a fresh answer
        raises its slot's floor, so nothing older is taken after it."""
        if self.info is None or answer.generation != self.info.generation or answer.seq <= self._floor[slot]:
            return False
        self._floor[slot] = answer.seq
        return True

    # ------------------------------------------------------------------ intents: model, drawing

    def open_model(self, source=None, device: str | None = None, fallback: bool = False) -> int:
        """Load ``source`` (a shipped name, a checkpoint path, a model object, None for the
        default). On failure ``model_failed`` and the model stays; with ``fallback`` the
        default (or an untrained) model is loaded instead."""
        return self._ask("load", (source, device or self.device, fallback))

    def set_device(self, device: str) -> None:
        """Reload the model on ``device`` (the model stays where it was if that fails)."""
        if device == self.device:
            return
        self.device = device
        if self.info is not None:
            self.open_model(self.info.source or self.info.name, device)

    def drawing_edited(self) -> None:
        """The drawing changed: frame, encode and decode it (newest wins)."""
        if self.info is not None:
            self._ask("drawing", self._raster())

    # ------------------------------------------------------------------ intents: the code

    def edit_value(self, dim: int, value: float) -> bool:
        """Set one dimension of the code shown and decode it."""
        if self.info is None or not 0 <= dim < self.info.latent_dim:
            return False
        self.edit.set_value(dim, value)
        self._decode_edit()
        return True

    def show_map_view(self, view: str) -> bool:
        """Show another view of the latent map ("map" or "linear"); False if there is none."""
        if self.map is None or view not in self.map.views:
            return False
        if view != self.map.view:
            self.map = self.map.with_view(view)
            self.map_changed.emit(self.map)
        return True

    def pick(self, x: float, y: float) -> bool:
        """Decode the code at a point of the latent map."""
        if self.info is None or self.map is None:
            return False
        self.edit.replace(self.map.inverse([x, y]))
        self._decode_edit()
        return True

    def pick_plane(self, x: float, y: float) -> bool:
        """Decode the code at a point of the manifold's plane (the linear view's)."""
        if self.info is None or self.map is None:
            return False
        self.edit.replace(self.map.plane.inverse([x, y]))
        self._decode_edit()
        return True

    def reset_edit(self) -> None:
        """Back to the drawing's own code and reconstruction; edits in flight are dropped."""
        if self.info is None:
            return
        self.edit.reset()
        self._drop_pending("edit")
        drawing = self.drawing
        if drawing is not None:
            self._show(Output(drawing.reconstruction, drawing.z, drawing.error, False, drawing.seq, drawing.guess), None)
        self.code_changed.emit()

    def _decode_edit(self) -> None:
        self._edit_asked = self._ask("edit", self.edit.current.copy())
        self.code_changed.emit()

    def _show(self, output: Output, posted: float | None) -> None:
        self.output = output
        if posted is not None:
            self.latency_ms = (self._clock() - posted) * 1e3
        self.output_changed.emit(output)

    # ------------------------------------------------------------------ intents: interpolation, sweeps

    def pin(self, which: str) -> bool:
        """Pin the code shown as A or B, with its thumbnail: the drawing's frame, or for an
        edited code its decoding (the one shown, else decoded now); False when there is no
        drawing to pin."""
        drawing, output, code = self.drawing, self.output, self.edit.current
        if self.info is None or drawing is None or drawing.z is None:
            return False
        if not self.edit.is_edited:
            self.interpolation.pin(which, code, drawing.frame)
        elif output is not None and output.edited and np.array_equal(output.code, code):
            self.interpolation.pin(which, code, output.image, edited=True)
        else:
            self.interpolation.pin(which, code, None, edited=True)
            self._ask("pin", np.stack(self.interpolation.waiting))
        self.pins_changed.emit()
        if self.interpolation.ready:
            self._drop_pending("strip", "interp")
            self._ask("strip", self.interpolation.steps())
            self.set_mix(self.interpolation.t)
        return True

    def set_mix(self, t: float) -> None:
        """Decode the interpolation at ``t`` (once A and B are pinned)."""
        self.interpolation.t = float(t)
        if self.info is not None and self.interpolation.ready:
            self._ask("interp", self.interpolation.mix())

    def request_traversal(self) -> None:
        """Sweep each dimension of the drawing's code (the view asks while it shows)."""
        if self.info is None:
            return
        drawing = self.drawing
        if drawing is None or drawing.z is None:
            self._drop_pending("traversal")
            self.traversal = None
            self.traversal_changed.emit(None)
            return
        self._ask("traversal", traversal.sweep(drawing.z, self.info.code_std))

    def request_manifold(self, size: int, reach: float) -> None:
        """Decode a ``size`` x ``size`` grid over the map's plane, ``reach`` standard
        deviations of the reference digits each way (once the map is fitted)."""
        if self.info is None or self.map is None:
            return
        extent = traversal.manifold_extent(self.map.plane.points, reach)
        _xy, codes = traversal.manifold_codes(self.map.plane, size, extent)
        self._ask("manifold", codes)

    def request_reading(self, pca: bool, sizes: bool, noise=None) -> None:
        """Read the drawing the paradigm's ways (the views ask while they show): beside
        PCA, through every code size, corrupted by ``noise`` (a NoiseSetting or None)."""
        if self.info is None:
            return
        drawing = self.drawing
        if drawing is None or drawing.z is None:
            self._drop_pending("reading")
            self.reading = None
            self.reading_changed.emit(None)
            return
        self._ask("reading", ReadingAsk(drawing.frame, drawing.reconstruction, pca, sizes, noise))

    # ------------------------------------------------------------------ answers

    def receive(self, answer) -> None:
        """Take an answer to one of the requests posted (stale ones are dropped)."""
        if isinstance(answer, ModelInfo):
            self._model_ready(answer)
        elif isinstance(answer, LoadFailed):
            if self.info is not None:
                self.device = self.info.device
            self.model_failed.emit(answer.what, answer.why)
        elif isinstance(answer, DrawingResult):
            self._drawing_done(answer)
        elif isinstance(answer, Decoded):
            self._decoded(answer)
        elif isinstance(answer, Read):
            if self.drawing is not None and self._fresh("reading", answer):
                self.reading = answer.reading
                self.reading_changed.emit(answer.reading)
        elif isinstance(answer, MapReady):
            if self._fresh("map", answer):
                self.map = answer.layout
                self.map_changed.emit(answer.layout)
        else:
            raise TypeError(f"not an answer the session knows: {answer!r}")

    def _model_ready(self, info: ModelInfo) -> None:
        self.info, self.device, self.map = info, info.device, None
        self._drop_pending(*SLOTS)
        self.edit.reset_model(info.latent_dim)
        self.interpolation.unpin()
        self._clear_views()
        self.model_changed.emit(info)
        self._ask("map", (info.codes, info.labels, info.latent_dim, info.map_xy, info.map_cache,
                          info.reference_images))
        self.drawing_edited()

    def _drawing_done(self, result: DrawingResult) -> None:
        if not self._fresh("drawing", result):
            return
        self.drawing = result
        z = result.z if result.z is not None else np.zeros(self.info.latent_dim, np.float32)
        if self.edit.is_edited and result.seq < self._edit_asked:
            self.edit.update_drawing(z)       # the edit is newer: it stays on screen
        else:
            self.edit.set_drawing(z)
            self._drop_pending("edit")
            self._show(Output(result.reconstruction, result.z, result.error, False, result.seq, result.guess),
                       result.posted)
        if result.z is None and self.traversal is not None:
            self.request_traversal()          # nothing to sweep: the view empties
        self.drawing_changed.emit(result)

    def _decoded(self, answer: Decoded) -> None:
        kind = answer.kind
        if kind == "edit":
            if self.edit.is_edited and self._fresh("edit", answer):
                error = self.drawing.error if self.drawing is not None else None
                self._show(Output(answer.images, answer.codes, error, True, answer.seq, answer.guess), answer.posted)
        elif kind == "interp":
            if self._fresh("interp", answer):
                self.mixed = answer.images
                self.mix_changed.emit(answer.images)
        elif kind == "pin":
            if self._fresh("pin", answer) and self.interpolation.show_decoded(answer.codes, answer.images):
                self.pins_changed.emit()
        elif kind == "strip":
            if self.interpolation.ready and self._fresh("strip", answer):
                self.strip = answer.images
                self.strip_changed.emit(answer.images)
        elif kind == "traversal":
            if self.drawing is not None and self.drawing.z is not None and self._fresh("traversal", answer):
                self.traversal = traversal.ranked(answer.codes, answer.images)
                self.traversal_changed.emit(self.traversal)
        elif kind == "manifold":
            if self.map is not None and self._fresh("manifold", answer):
                self.manifold = (self.map.plane.forward(answer.codes), answer.images)
                self.manifold_changed.emit(*self.manifold)
