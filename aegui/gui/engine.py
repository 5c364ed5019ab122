"""The model's side of the app, without Qt: load a model and answer the session's
requests (``aegui.session.protocol``) with plain data.

``Engine`` holds the model and is used from one thread only, the inference thread
(``worker.InferenceThread``), which queues the requests; torch is imported when a model
is first loaded, so importing this module loads none. ``copy_model`` hands out a copy of
the weights (fine-tuning trains that, never the model in use). ``fit_map`` answers the
"map" requests, on a thread of their own: fitting the latent map never holds up the pen.

Two seams for what other parts of the app decide: ``fit_map`` (how codes are laid out on
the latent map) and ``Engine.verdict`` (which digit a code looks like).

"reading" requests (the paradigm's views, ``aegui.paradigm.read_drawing``) use, besides
the model, the shipped PCA fit and the zoo's autoencoders of every code size: both are
loaded the first time a view asks for them, on this thread, and kept (the zoo's models
on the device of the model in use).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from aegui.preprocess import frame_page
from aegui.session.protocol import (DECODE_KINDS, Decoded, DrawingResult, LoadFailed, MapReady, ModelInfo, Read,
                                    Request)
from aegui.traversal import dimension_scales
from aegui.verdict import NEIGHBOURS, Verdict, decide, judge, squared_norms

from . import latent

__all__ = ["Engine", "NEIGHBOURS", "fit_map"]


def fit_map(request: Request) -> MapReady:
    """Answer a "map" request: the latent map of the model's reference codes."""
    codes, labels, latent_dim, xy, cache, images = request.payload
    layout = latent.fit_map(codes, labels, latent_dim, xy, cache, images)
    return MapReady(request.seq, request.posted, request.generation, layout)


@dataclass(eq=False)
class _Loaded:
    model: object
    info: ModelInfo
    one_image: object        # aegui.models.one_image.OneImagePass: a drawing's pass
    code_norms: np.ndarray | None = None   # the reference codes' squared_norms, for each verdict


class Engine:
    """Load a model (``answer`` a "load") and compute with it (every other kind but "map")."""

    def __init__(self, interrupted=None):
        """``interrupted``: asked between the passes of a "reading"; when it says yes (a
        newer drawing is waiting, say) the reading is dropped unanswered."""
        self._interrupted = interrupted
        self._loaded: _Loaded | None = None
        self._generation = 0
        self._pca = None                 # the shipped PCA fit, once asked for (False: none)
        self._sizes: tuple[str, list] | None = None   # (device, [(name, model)]) of every code size
        self._same: tuple[int, set] | None = None     # (generation, names of those equal to the model in use)

    @property
    def info(self) -> ModelInfo | None:
        return self._loaded.info if self._loaded is not None else None

    def verdict(self, info: ModelInfo, z: np.ndarray, sse: float | None = None, nearest=None,
                probabilities=None) -> Verdict:
        """What the drawing whose code is ``z`` looks like (``aegui.verdict``): the model's
        verdict head, and the vote of its ``NEIGHBOURS`` nearest reference codes (their
        indices ``nearest`` and the head's ``probabilities``, when the pass found them).
        ``sse``: the drawing's squared reconstruction error; None for an edited code, which
        has no drawing to compare with."""
        head = getattr(self._loaded.model, "verdict_head", None) if self._loaded is not None else None
        norms = self._loaded.code_norms if self._loaded is not None and self._loaded.info is info else None
        return judge(z.reshape(1, -1), [False], head, info.codes, info.labels, NEIGHBOURS,
                     sse=None if sse is None else [sse], reference_norms=norms, nearest=nearest,
                     probabilities=probabilities)[0]

    def answer(self, request: Request):
        """The answer to ``request``; None when it was made for a model that is gone."""
        loaded = self._loaded
        if request.kind != "load" and (loaded is None or request.generation != loaded.info.generation):
            return None
        if request.kind == "drawing":
            # Once per stroke event: no import statement on this path (with PySide6 loaded
            # each runs its import hook: 2.4 us in a loop, several times that between
            # strokes) and no torch call beyond the pass (aegui.models.one_image).
            return self._encode(loaded, request)
        import torch

        with torch.inference_mode():
            return self._answer(loaded, request)

    def _answer(self, loaded: _Loaded | None, request: Request):
        if request.kind == "load":
            return self._load(request)
        if request.kind == "reading":
            return self._read(loaded, request)
        if request.kind in DECODE_KINDS:
            codes = np.asarray(request.payload, np.float32)
            flat = codes.reshape(-1, codes.shape[-1])
            images = self.decode(flat).reshape(*codes.shape[:-1], 28, 28)
            # An edited code is judged like a drawing's: the verdict is about the code shown.
            guess = self.verdict(loaded.info, codes) if request.kind == "edit" and codes.ndim == 1 else None
            return Decoded(request.seq, request.posted, request.generation, request.kind, codes, images, guess)
        raise ValueError(f"not a request the engine answers: {request.kind!r}")

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes (B, Z) -> images (B, 28, 28) float32."""
        import torch

        z = torch.from_numpy(np.ascontiguousarray(codes, np.float32)).to(self._loaded.info.device)
        return self._loaded.model.decode(z).reshape(len(codes), 28, 28).float().cpu().numpy()

    def _encode(self, loaded: _Loaded, request: Request) -> DrawingResult:
        frame = frame_page(request.payload)
        info = loaded.info
        if not frame.any():
            return DrawingResult(request.seq, request.posted, info.generation, frame, None,
                                 np.zeros_like(frame), None, decide(empty=True))
        z, recon, error, nearest, probabilities = loaded.one_image.of_frame(frame)
        return DrawingResult(request.seq, request.posted, info.generation, frame, z, recon, error,
                             self.verdict(info, z, error * frame.size, nearest, probabilities))

    def _read(self, loaded: _Loaded, request: Request) -> Read | None:
        from aegui.paradigm import read_drawing

        ask = request.payload
        reading = read_drawing(ask.frame, loaded.model, self._pca_fit() if ask.pca else None,
                               self._sizes_for(loaded) if ask.sizes else None, ask.noise,
                               reconstruction=ask.reconstruction, interrupted=self._interrupted)
        return None if reading is None else Read(request.seq, request.posted, request.generation, reading)

    def _pca_fit(self):
        """The shipped PCA fit; False when it cannot be read (the view says there is none)."""
        if self._pca is None:
            from aegui import pca
            from aegui.errors import InputError

            try:
                self._pca = pca.load()
            except InputError:
                self._pca = False
        return self._pca

    def _sizes_for(self, loaded: _Loaded) -> list:
        """The zoo's models of every code size, the one with the same weights as the model in
        use replaced by that model (the reading then reuses the drawing's reconstruction)."""
        if self._same is None or self._same[0] != loaded.info.generation:
            import torch

            mine = loaded.model.state_dict()
            same = {name for name, m in self._size_models(loaded.info.device)
                    if m.state_dict().keys() == mine.keys()
                    and all(torch.equal(v, mine[k]) for k, v in m.state_dict().items())}
            self._same = (loaded.info.generation, same)
        return [(name, loaded.model if name in self._same[1] else m)
                for name, m in self._size_models(loaded.info.device)]

    def _size_models(self, device: str) -> list:
        """The zoo's autoencoders of every code size that are installed, narrowest first."""
        if self._sizes is None or self._sizes[0] != device:
            from aegui import models

            loaded = []
            for name in (n for n in models.zoo.BY_CODE_SIZE if n in models.available()):
                try:
                    loaded.append((name, models.load(name, device=device)))
                except models.CheckpointError:
                    pass        # a damaged file: the row shows the others (loading it says why)
            self._sizes = (device, loaded)
        return self._sizes[1]

    def copy_model(self):
        """A copy of the model in use, on the CPU, with its weights, metadata and reference
        codes (None before the first model): to train, never the model itself. A deep
        copy takes milliseconds, where building the model anew would take tens."""
        return copy.deepcopy(self._loaded.model).cpu() if self._loaded is not None else None

    # ------------------------------------------------------------------ loading

    def _load(self, request: Request):
        from aegui.models.one_image import one_image_pass

        source, device, fallback = request.payload
        problem = ""
        try:
            model, untrained = _open(source, device)
        except Exception as err:  # noqa: BLE001 - every failure is reported the same way
            if not fallback:
                return LoadFailed(request.seq, _describe(source), str(err) or type(err).__name__)
            model, untrained = _open(None, device)
            problem, source = f"could not open {_describe(source)}: {err}", None
        model.eval()
        self._generation += 1
        # Tracing runs the pass, so the first stroke does not pay for lazy initialisation.
        info = _describe_model(model, self._generation, untrained, problem, source, device)
        one_image = one_image_pass(model, device, info.codes, NEIGHBOURS, getattr(model, "verdict_head", None))
        info = dataclasses.replace(info, drawing_pass="traced" if one_image.traced else f"eager: {one_image.why_eager}")
        self._loaded = _Loaded(model, info, one_image, squared_norms(info.codes) if info.codes is not None else None)
        return info


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


def _describe_model(model, generation: int, untrained: bool, problem: str, source, device: str) -> ModelInfo:
    import torch

    from aegui import models, ops

    z_dim = int(model.latent_dim)
    reference, images, cache = _reference_of(model)
    codes = labels = None
    if reference is not None and len(reference.codes):
        codes = np.ascontiguousarray(reference.codes, np.float32)
        labels = np.asarray(reference.labels).astype(np.intp)
    config = getattr(model, "config", None)
    return ModelInfo(
        generation=generation,
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
        metrics=dict(getattr(model, "metrics", None) or {}),
        codes=codes,
        labels=labels,
        z_limit=latent.symmetric_limit(codes) if codes is not None else 1.0,
        code_std=dimension_scales(z_dim, codes),
        map_xy=getattr(reference, "xy", None) if codes is not None else None,
        map_cache=cache,
        reference_images=images if codes is not None else None,
    )


def _reference_of(model):
    """(reference, images, cache): the reference digits' codes (with their map when the
    model carries one or the cache has it), their images, and where to cache a map laid
    out for them (None when there is one, or nothing to name the weights by). A model
    without the full set has the shipped digits encoded now (a second or so, once: the
    map laid out for them is cached)."""
    from aegui.data import DataError
    from aegui.model_map import cache_path, encode_reference, stored_reference
    from aegui.reference import load_reference

    own = getattr(model, "reference", None)
    is_module = callable(getattr(model, "state_dict", None)) and callable(getattr(model, "parameters", None))
    if not is_module:
        return own, None, None
    try:
        digits = load_reference()
    except DataError:
        return own, None, None       # a broken install: show what the model has
    full = stored_reference(model, digits)
    if full is not None:
        return full, digits.images, None
    encoded = encode_reference(model, digits)
    return encoded, digits.images, (str(cache_path(model, digits)) if int(model.latent_dim) > 2 else None)


def _describe(source) -> str:
    if source is None:
        return "the default model"
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return getattr(source, "name", type(source).__name__)
