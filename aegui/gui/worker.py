"""The inference thread: the only place where the app runs the model.

The pattern of Qt's Mandelbrot example: the UI thread posts requests and returns at
once; the thread computes and emits results, which Qt queues back to the UI thread. Each
kind of request (a model to load, a drawing to frame and encode, a code to decode, an
interpolation strip, the batch of a latent traversal or of the manifold grid) has one slot holding only the newest request of that kind, so while
the model is busy, strokes that arrive overwrite each other and only the latest drawing
is computed: stale requests are dropped, never queued. Results carry the request's
sequence number, so the window can also ignore a result older than what it shows.

torch (and the models) are imported on this thread, when it starts, so that the window
is on screen while they load. The thread uses few intra-op threads: on a small machine
the other cores belong to the UI.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QThread, Signal

from aegui.preprocess import mnist_style
from aegui.traversal import dimension_scales

from .latent import Guess, Projection, nearest_digit, symmetric_limit

__all__ = ["BatchResult", "DecodeResult", "DrawingResult", "InferenceThread", "ModelInfo", "StripResult"]

# Order in which pending requests are served: a new model first (everything else is
# computed with it), then what follows the pen, then what follows the sliders, then the
# large batches of the traversal and manifold views.
PRIORITY = ("load", "drawing", "edit", "interp", "strip", "traversal", "manifold")
BATCH_PURPOSES = ("traversal", "manifold")
NEIGHBOURS = 10
SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True, eq=False)
class ModelInfo:
    """What the UI needs to know about the model now loaded (plain data, no tensors)."""

    generation: int              # increases with every model loaded
    name: str
    kind: str                    # "ae" | "vae"
    latent_dim: int
    untrained: bool              # the untrained stand-in for a zoo that is not installed
    problem: str                 # "" or why this is not the model that was asked for
    description: str
    backend: str                 # "cuda" | "cpu" | "reference"
    device: str
    cuda_available: bool
    shipped: tuple[str, ...]     # names of the installed shipped models
    source: str | None           # name or path to reopen it by; None for a model object
    metrics: dict
    projection: Projection
    reference_xy: np.ndarray | None  # (N, 2) map points of the reference digits
    labels: np.ndarray | None        # (N,) their digits
    z_limit: float                   # symmetric range for the latent bars
    map_range: tuple[float, float, float, float]  # x0, x1, y0, y1 of the latent map
    code_std: np.ndarray | None = None  # (Z,) std of each dimension over the reference codes (1 if none)


@dataclass(frozen=True, eq=False)
class DrawingResult:
    seq: int
    posted: float                # time.perf_counter() when the request was made
    generation: int
    frame: np.ndarray            # (28, 28) what the network sees
    z: np.ndarray | None         # (Z,), None for an empty drawing
    reconstruction: np.ndarray   # (28, 28); zeros for an empty drawing
    error: float | None          # mean squared error frame vs reconstruction
    xy: np.ndarray | None        # the code on the latent map
    guess: Guess | None


@dataclass(frozen=True, eq=False)
class DecodeResult:
    seq: int
    posted: float
    generation: int
    purpose: str                 # "edit" | "interp"
    z: np.ndarray
    image: np.ndarray            # (28, 28)
    xy: np.ndarray


@dataclass(frozen=True, eq=False)
class StripResult:
    seq: int
    posted: float
    generation: int
    images: np.ndarray           # (S, 28, 28)


@dataclass(frozen=True, eq=False)
class BatchResult:
    seq: int
    posted: float
    generation: int
    purpose: str                 # "traversal" | "manifold"
    codes: np.ndarray            # (..., Z) as posted
    images: np.ndarray           # (..., 28, 28): the codes' shape with each code decoded


@dataclass(eq=False)
class _Request:
    kind: str
    seq: int
    posted: float
    payload: object
    generation: int = 0


@dataclass(eq=False)
class _Loaded:
    model: object
    info: ModelInfo
    device: str
    codes: np.ndarray | None = None
    labels: np.ndarray | None = None


class InferenceThread(QThread):
    """Post requests with ``load_model`` / ``submit_*``; results come back as signals."""

    modelReady = Signal(object)        # ModelInfo
    modelFailed = Signal(str, str)     # what was asked for, why it failed
    drawingDone = Signal(object)       # DrawingResult
    decodeDone = Signal(object)        # DecodeResult
    stripDone = Signal(object)         # StripResult
    batchDone = Signal(object)         # BatchResult
    failed = Signal(str)               # an inference error (the model stays)

    def __init__(self, parent=None, torch_threads: int | None = None):
        super().__init__(parent)
        # While this thread runs Python code, the UI thread waits up to the interpreter's
        # switch interval (5 ms by default) for the GIL: far too long for following a pen.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self.setObjectName("inference")
        cores = os.cpu_count() or 2
        self._torch_threads = torch_threads or max(1, min(4, cores - 1))
        self._cond = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._seq = 0
        self._busy = False
        self._abort = False
        self._loaded: _Loaded | None = None
        self._generation = 0
        # Requests served and the CPU seconds they took, per kind (for ``aegui bench app``).
        self.served: dict[str, int] = dict.fromkeys(PRIORITY, 0)
        self.cpu_seconds: dict[str, float] = dict.fromkeys(PRIORITY, 0.0)

    # ------------------------------------------------------------------ UI thread side

    def load_model(self, source=None, device: str = "cpu", fallback: bool = False) -> int:
        """Load ``source`` (a shipped name, a checkpoint path, a model object, or None for
        the default). On failure: ``modelFailed`` and the current model stays, unless
        ``fallback``, where the default (or an untrained) model is loaded instead."""
        return self._post("load", (source, device, fallback))

    def submit_drawing(self, raster: np.ndarray) -> int:
        """Frame, encode and decode a drawing (a 2-D uint8 array, ink bright)."""
        return self._post("drawing", raster)

    def submit_decode(self, z, purpose: str, generation: int) -> int:
        """Decode a code; ``purpose`` ("edit" or "interp") has its own newest-wins slot."""
        if purpose not in ("edit", "interp"):
            raise ValueError(f"purpose must be 'edit' or 'interp', not {purpose!r}")
        return self._post(purpose, np.array(z, np.float32).reshape(-1), generation)

    def submit_strip(self, codes, generation: int) -> int:
        """Decode a batch of codes (S, Z) at once."""
        return self._post("strip", np.array(codes, np.float32), generation)

    def submit_batch(self, codes, purpose: str, generation: int) -> int:
        """Decode codes of any shape (..., Z) at once; ``purpose`` ("traversal" or
        "manifold") has its own newest-wins slot."""
        if purpose not in BATCH_PURPOSES:
            raise ValueError(f"purpose must be one of {BATCH_PURPOSES}, not {purpose!r}")
        return self._post(purpose, np.array(codes, np.float32), generation)

    def current_model(self):
        """The model loaded now (None before the first): to copy, never to run on this
        thread's behalf. Fine-tuning starts from it."""
        loaded = self._loaded
        return loaded.model if loaded is not None else None

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest request posted."""
        with self._cond:
            return self._seq

    def is_idle(self) -> bool:
        """Nothing pending and nothing being computed (results may still be in flight)."""
        with self._cond:
            return not self._pending and not self._busy

    def stop(self, timeout_ms: int = 10000) -> None:
        """Drop pending requests, end the thread and wait for it."""
        with self._cond:
            self._abort = True
            self._pending.clear()
            self._cond.notify()
        if self.isRunning():
            self.wait(timeout_ms)

    def _post(self, kind: str, payload, generation: int = 0) -> int:
        with self._cond:
            self._seq += 1
            self._pending[kind] = _Request(kind, self._seq, time.perf_counter(), payload, generation)
            self._cond.notify()
            return self._seq

    # ------------------------------------------------------------------ worker side

    def run(self) -> None:
        import torch

        torch.set_num_threads(self._torch_threads)
        while True:
            with self._cond:
                while not self._pending and not self._abort:
                    self._cond.wait()
                if self._abort:
                    return
                kind = next(k for k in PRIORITY if k in self._pending)
                request = self._pending.pop(kind)
                self._busy = True
            started = time.thread_time()
            try:
                with torch.inference_mode():
                    self._serve(request)
            except Exception as err:  # noqa: BLE001 - reported, and the thread goes on
                self.failed.emit(f"{request.kind}: {type(err).__name__}: {err}")
            finally:
                self.cpu_seconds[kind] += time.thread_time() - started
                self.served[kind] += 1
                with self._cond:
                    self._busy = False

    def _serve(self, request: _Request) -> None:
        if request.kind == "load":
            self._load(request)
            return
        loaded = self._loaded
        if loaded is None:
            return
        if request.kind == "drawing":
            self.drawingDone.emit(self._encode_drawing(loaded, request))
            return
        if request.generation != loaded.info.generation:
            return  # made for a model that is gone
        if request.kind == "strip":
            images = self._decode(loaded, request.payload)
            self.stripDone.emit(StripResult(request.seq, request.posted, request.generation, images))
        elif request.kind in BATCH_PURPOSES:
            codes = request.payload
            flat = codes.reshape(-1, codes.shape[-1])
            images = self._decode(loaded, flat).reshape(*codes.shape[:-1], 28, 28)
            self.batchDone.emit(BatchResult(request.seq, request.posted, request.generation,
                                            request.kind, codes, images))
        else:
            z = request.payload
            image = self._decode(loaded, z[None])[0]
            self.decodeDone.emit(DecodeResult(request.seq, request.posted, request.generation,
                                              request.kind, z, image, loaded.info.projection.forward(z)))

    def _encode_drawing(self, loaded: _Loaded, request: _Request) -> DrawingResult:
        import torch

        frame = mnist_style(request.payload)
        gen = loaded.info.generation
        if not frame.any():
            return DrawingResult(request.seq, request.posted, gen, frame, None,
                                 np.zeros_like(frame), None, None, None)
        x = torch.from_numpy(frame).reshape(1, 1, 28, 28).to(loaded.device)
        z_t, recon_t = loaded.model.reconstruct(x)
        recon = recon_t.reshape(28, 28).float().cpu().numpy()
        z = z_t.reshape(-1).float().cpu().numpy()
        error = float(np.mean((recon - frame) ** 2))
        guess = nearest_digit(loaded.codes, loaded.labels, z, NEIGHBOURS)
        return DrawingResult(request.seq, request.posted, gen, frame, z, recon, error,
                             loaded.info.projection.forward(z), guess)

    @staticmethod
    def _decode(loaded: _Loaded, codes: np.ndarray) -> np.ndarray:
        import torch

        z = torch.from_numpy(np.ascontiguousarray(codes, np.float32)).to(loaded.device)
        return loaded.model.decode(z).reshape(len(codes), 28, 28).float().cpu().numpy()

    # ------------------------------------------------------------------ loading

    def _load(self, request: _Request) -> None:
        import torch

        source, device, fallback = request.payload
        problem = ""
        try:
            model, untrained = self._open(source, device)
        except Exception as err:  # noqa: BLE001 - every failure is reported the same way
            if not fallback:
                self.modelFailed.emit(_describe(source), str(err) or type(err).__name__)
                return
            model, untrained = self._open(None, device)
            problem, source = f"could not open {_describe(source)}: {err}", None
        model.eval()
        self._generation += 1
        loaded = self._prepare(model, untrained, problem, source, device)
        # One pass now, so that the first stroke does not pay for lazy initialisation.
        with torch.inference_mode():
            model.reconstruct(torch.zeros(1, 1, 28, 28, device=device))
        self._loaded = loaded
        self.modelReady.emit(loaded.info)

    @staticmethod
    def _open(source, device: str):
        """(model, untrained) for a source; raises on any failure."""
        import torch

        from aegui import models

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("CUDA is not available on this machine")
        if source is None:
            default = models.zoo.DEFAULT
            if default in models.available():
                return models.load(default, device=device), False
            return models.create("ae", 16).to(device), True
        if isinstance(source, str | os.PathLike):
            return models.load(source, device=device), False
        if callable(getattr(source, "encode", None)) and callable(getattr(source, "decode", None)):
            return (source.to(device) if hasattr(source, "to") else source), False
        raise TypeError(f"not a model, a shipped name or a checkpoint path: {source!r}")

    def _prepare(self, model, untrained: bool, problem: str, source, device: str) -> _Loaded:
        import torch

        from aegui import models, ops

        z_dim = int(model.latent_dim)
        reference = getattr(model, "reference", None)
        codes = labels = xy = None
        if reference is not None and len(reference.codes):
            codes = np.ascontiguousarray(reference.codes, np.float32)
            labels = np.asarray(reference.labels).astype(np.intp)
        projection = Projection.fit(z_dim, codes)
        if codes is not None:
            xy = projection.forward(codes).astype(np.float32)
            z_limit = symmetric_limit(codes)
            lo = np.percentile(xy, 0.5, axis=0)
            hi = np.percentile(xy, 99.5, axis=0)
            pad = (hi - lo) * 0.08
            map_range = (float(lo[0] - pad[0]), float(hi[0] + pad[0]),
                         float(lo[1] - pad[1]), float(hi[1] + pad[1]))
        else:
            z_limit = 1.0
            map_range = (-1.0, 1.0, -1.0, 1.0)
        metrics = getattr(model, "metrics", None) or {}
        config = getattr(model, "config", None)
        info = ModelInfo(
            generation=self._generation,
            name=str(getattr(model, "name", "model")),
            kind=str(getattr(model, "kind", "ae")),
            latent_dim=z_dim,
            untrained=untrained,
            problem=problem,
            description=config.describe() if hasattr(config, "describe") else type(model).__name__,
            backend=ops.backend(device),
            device=str(device),
            cuda_available=torch.cuda.is_available(),
            shipped=tuple(models.available()),
            source=os.fspath(source) if isinstance(source, str | os.PathLike) else None,
            metrics=dict(metrics),
            projection=projection,
            reference_xy=xy,
            labels=labels,
            z_limit=z_limit,
            map_range=map_range,
            code_std=dimension_scales(z_dim, codes),
        )
        return _Loaded(model, info, str(device), codes, labels)


def _describe(source) -> str:
    if source is None:
        return "the default model"
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return getattr(source, "name", type(source).__name__)
