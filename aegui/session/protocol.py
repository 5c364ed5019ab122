"""What the session asks of whoever computes for it, and the answers it understands.

The session posts ``Request``s and receives answers; it never calls a model. The app's
inference thread (``aegui.gui.worker``, computing with ``aegui.gui.engine``) serves
every kind but "map", which a background job serves; tests serve them by hand. Every
answer echoes its request's ``seq`` (the session's own counter, increasing with every
request) and ``generation`` (the model it was made for), which is all the session's
one rule for stale results needs.

Plain data only: numpy arrays and Python values, never tensors or modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BATCH_KINDS", "DECODE_KINDS", "Decoded", "DrawingResult", "KINDS", "LoadFailed", "MapReady",
           "ModelInfo", "Read", "ReadingAsk", "Request"]

# Every kind of request, in the order a busy server should take them: a new model first
# (everything else is computed with it), then what follows the pen, then what follows
# the sliders, then the paradigm's views ("reading": a few small passes), then the large
# batches of the traversal and manifold views. "map" (fitting the latent map) runs apart,
# so that it never holds up the pen. "pin" decodes the pinned codes that are edits (the
# thumbnail of an edited code is its decoding).
KINDS = ("load", "drawing", "edit", "interp", "pin", "reading", "strip", "traversal", "manifold", "map")
# Kinds answered by ``Decoded``: one code (edit, interp) or a batch of codes of any shape.
DECODE_KINDS = ("edit", "interp", "pin", "strip", "traversal", "manifold")
BATCH_KINDS = ("pin", "strip", "traversal", "manifold")


@dataclass(frozen=True, eq=False)
class Request:
    """``payload`` by kind: "load" (source, device, fallback); "drawing" a 2-D uint8
    raster, ink bright; the decode kinds codes (Z,) or (..., Z) float32; "reading" a
    ``ReadingAsk``; "map" the reference (codes (N, Z) or None, labels (N,) or None,
    latent_dim)."""

    kind: str
    seq: int
    generation: int              # the model it is meant for (0 for "load")
    payload: object
    posted: float                # time.perf_counter() when it was made


@dataclass(frozen=True, eq=False)
class ModelInfo:
    """The model now loaded, as plain data (the answer to "load")."""

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
    codes: np.ndarray | None     # (N, Z) latent codes of the reference digits
    labels: np.ndarray | None    # (N,) their digits
    z_limit: float               # symmetric range for the latent bars
    code_std: np.ndarray          # (Z,) spread of each dimension over the codes (1 if none)
    map_xy: np.ndarray | None = None    # (N, 2) the codes' points on the neighbour map, if the model has them
    map_cache: str | None = None        # where to keep a map laid out for it (None: nowhere)
    reference_images: np.ndarray | None = None  # (N, 28, 28) the digits of the codes, when known
    drawing_pass: str = ""              # "traced", or "eager: why" (aegui.models.one_image)


@dataclass(frozen=True, eq=False)
class LoadFailed:
    """A "load" that failed; the model loaded before stays."""

    seq: int
    what: str                    # what was asked for
    why: str


@dataclass(frozen=True, eq=False)
class DrawingResult:
    """A drawing framed, encoded and decoded (the answer to "drawing")."""

    seq: int
    posted: float
    generation: int
    frame: np.ndarray            # (28, 28) what the network sees, in [0, 1]
    z: np.ndarray | None         # (Z,), None for an empty drawing
    reconstruction: np.ndarray   # (28, 28); zeros for an empty drawing
    error: float | None          # mean squared error frame vs reconstruction
    guess: object | None         # the verdict (an aegui.verdict.Verdict): has ``describe()``


@dataclass(frozen=True, eq=False)
class Decoded:
    """Codes decoded (the answer to the decode kinds): ``images`` has the codes' shape
    with each code (Z,) replaced by its (28, 28) decoding."""

    seq: int
    posted: float
    generation: int
    kind: str
    codes: np.ndarray
    images: np.ndarray
    guess: object | None = None  # for an "edit": the verdict on the edited code (as DrawingResult's)


@dataclass(frozen=True, eq=False)
class MapReady:
    """The latent map fitted for a model (the answer to "map"): ``layout`` places codes
    on the map (``forward``), maps points back to codes (``inverse``) and holds the
    reference digits' ``points``, ``labels``, ``extent`` and ``axis_names``."""

    seq: int
    posted: float
    generation: int
    layout: object


@dataclass(frozen=True, eq=False)
class ReadingAsk:
    """What the paradigm's views ask of a drawing the model has read: its ``frame`` and the
    model's ``reconstruction`` (from the drawing's answer) beside PCA (``pca``), through
    the zoo's models of every code size (``sizes``), and corrupted by ``noise`` (an
    ``aegui.paradigm.NoiseSetting``, or None)."""

    frame: np.ndarray
    reconstruction: np.ndarray
    pca: bool
    sizes: bool
    noise: object | None


@dataclass(frozen=True, eq=False)
class Read:
    """A drawing read the paradigm's ways (the answer to "reading"): ``reading`` is an
    ``aegui.paradigm.DrawingReading``."""

    seq: int
    posted: float
    generation: int
    reading: object
