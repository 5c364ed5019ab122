"""Model cards with pictures: what ``aegui eval MODEL --data mnist.npz --card PATH`` writes.

The card (markdown, ``PATH``) is ``aegui.models.zoo.model_card`` (what the model is, how it
was trained, its test metrics) followed by the paradigm's measures (``aegui.paradigm``:
PCA with as many components, and how well it removes noise) and pictures, written beside
it in ``figures/`` as ``<card name>-<figure>.png``:

* ``loss``: training and validation loss per epoch, from the checkpoint's history;
* ``reconstructions``: two test digits of each class, the model's reconstructions and
  PCA's with as many components;
* ``traversal``: the first test digit's code with each of its strongest dimensions swept
  over +-2 standard deviations (``aegui.traversal``), strongest first;
* ``denoising``: one test digit under each corruption, and the model's reconstruction.

Every number and picture is computed by the command from the model and the data; none is
typed by hand. Pictures are drawn with Pillow (``aegui.figures``), without Qt.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from aegui import figures, paradigm
from aegui.atomic_files import write_bytes_atomic
from aegui.corruption import KINDS, corrupt
from aegui.data import Digits
from aegui.pca import PCA
from aegui.traversal import SPAN, dimension_scales, sweep_offsets, traverse

__all__ = ["card_markdown", "loss_figure", "reconstruction_figure", "traversal_figure", "write_card"]

TRAVERSAL_ROWS = 6
PER_CLASS = 2
CARD_STRENGTH = 0.5          # the strength of the denoising figure and of the card's summary


def _history_series(model) -> tuple[list, str] | None:
    """(series, y label) of the loss curves, or None without a history."""
    history = [h for h in model.metadata.get("history", []) if isinstance(h, dict) and "loss" in h]
    if not history:
        return None
    tc = model.metadata.get("train_config", {})
    epochs = [h["epoch"] for h in history]
    denoising = " (corrupted inputs)" if tc.get("corrupt") else ""
    if model.kind == "vae":
        beta = float(tc.get("beta", 1.0))
        val = [h["val_bce"] * 784 + beta * h["val_kl"] for h in history]
        what = "BCE summed over pixels + beta KL"
    elif tc.get("loss") == "mse":
        val = [h["val_sse"] for h in history]
        what = "squared error summed over pixels"
    else:
        val = [h["val_bce"] * 784 for h in history]
        what = "BCE summed over pixels"
    series = [(f"training{denoising}", epochs, [h["loss"] for h in history]),
              ("validation (2,000 test digits)", epochs, val)]
    return series, f"{what}, per image"


def loss_figure(model) -> Image.Image | None:
    """Training and validation loss per epoch (None when the checkpoint has no history)."""
    found = _history_series(model)
    if found is None:
        return None
    series, ylabel = found
    return figures.line_chart(series, title=f"{model.name}: loss per epoch", xlabel="epoch", ylabel=ylabel,
                              log_y=True, size=(720, 420))


def _examples(data: Digits, per_class: int = PER_CLASS) -> np.ndarray:
    """Indices of the first ``per_class`` test digits of each class, by class."""
    return np.concatenate([np.flatnonzero(data.y_test == d)[:per_class] for d in range(10)])


def reconstruction_figure(model, data: Digits, pca: PCA) -> Image.Image:
    frames = data.x_test[_examples(data)] / np.float32(255)
    k = min(model.latent_dim, pca.max_components)
    return figures.image_rows(
        [("test digits", frames), (model.name, paradigm.reconstruct_frames(model, frames)),
         (f"PCA, {k} comp.", pca.reconstruct(frames, k))],
        title=f"Reconstructions of test digits: {model.name} (learned) and PCA (linear), "
              f"both with {k} numbers per digit")


def traversal_figure(model, data: Digits) -> Image.Image:
    import torch

    frame = data.x_test[:1] / np.float32(255)
    reference = model.reference.codes if model.reference is not None else None

    def decode(codes):
        return model.decode(torch.from_numpy(np.ascontiguousarray(codes))).reshape(-1, 28, 28).numpy()

    with torch.inference_mode():
        z = model.encode(torch.from_numpy(frame).reshape(1, 1, 28, 28)).reshape(-1).numpy()
        ranked = traverse(decode, z, dimension_scales(model.latent_dim, reference))
    rows = [(f"z[{d}]", ranked.images[r]) for r, d in enumerate(ranked.order[:TRAVERSAL_ROWS])]
    offsets = sweep_offsets()
    labels = ["0" if t == 0 else f"{t:+.1f} sd" for t in offsets]
    return figures.image_rows(rows, column_labels=labels,
                              title=f"{model.name}: the first test digit's code, its {len(rows)} strongest "
                                    f"dimensions swept over +-{SPAN:g} standard deviations (sd)")


def denoising_figure(model, data: Digits, strength: float = CARD_STRENGTH,
                     seed: int = paradigm.NOISE_SEED) -> Image.Image:
    clean = data.x_test[_examples(data, 1)] / np.float32(255)
    rows = [("clean", clean), (model.name, paradigm.reconstruct_frames(model, clean))]
    for kind in KINDS:
        noisy = corrupt(clean, kind, strength, seed=seed)
        rows += [(kind, noisy), (f"  {model.name}", paradigm.reconstruct_frames(model, noisy))]
    return figures.image_rows(rows, scale=2, title=f"{model.name}: noisy test digits (strength {strength:g}) "
                                                   f"and its reconstructions of them")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _sections(model, extra: dict, pictures: dict[str, str]) -> list[str]:
    lines: list[str] = []
    if "pca" in extra:
        p = extra["pca"]
        k = p["pca_components"]
        lines += ["", f"## Linear versus learned (`aegui eval {model.name} --pca`)", "",
                  f"| test SSE per image, code of {k} | value |", "|---|---|",
                  f"| {model.name} | {p['sse']:.3f} |",
                  f"| PCA, {k} components, clipped to [0, 1] | {p['pca_sse']:.3f} |",
                  f"| PCA, {k} components, plain | {p['pca_sse_unclipped']:.3f} |",
                  f"| variance kept by PCA | {p['pca_variance_kept']:.1%} |",
                  f"| PCA's error / {model.name}'s | {p['pca_sse'] / p['sse']:.2f}x |"]
    if "denoising" in extra:
        d = extra["denoising"]
        lines += ["", f"## Noise in, essence out (`aegui eval {model.name} --noise`)", "",
                  f"Distance to the clean digit (SSE per image) of the corrupted input, of {model.name}'s "
                  f"reconstruction of it and of PCA's ({d['pca_components']} components), on {d['images']:,} "
                  f"test digits (seed {d['seed']}); gain = input / reconstruction. On clean input "
                  f"{model.name}'s distance is {d['clean']:.3f}.", "",
                  f"| corruption | strength | input | {model.name} | PCA | gain |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['kind']} | {r['strength']:g} | {r['input']:.2f} | {r['output']:.2f} | {r['pca']:.2f} | "
                  f"{r['gain']:.2f}x |" for r in d["rows"]]
    captions = {"loss": "Loss per epoch", "reconstructions": "Reconstructions", "traversal": "Latent traversal",
                "denoising": "Denoising"}
    if pictures:
        lines += ["", "## Pictures", ""]
        for name, rel in pictures.items():
            lines += [f"![{captions.get(name, name)}]({rel})", ""]
    return lines


def card_markdown(model, metrics: dict, extra: dict | None = None, pictures: dict[str, str] | None = None) -> str:
    """The card's text: the zoo's card, then the paradigm's measures and the pictures."""
    from aegui.models.zoo import model_card

    return model_card(model, metrics).rstrip("\n") + "\n" + "\n".join(
        _sections(model, extra or {}, pictures or {})).rstrip("\n") + "\n"


def write_card(model, metrics: dict, extra: dict, data: Digits, pca: PCA, path: str | os.PathLike) -> list[Path]:
    """Write the card to ``path`` and its pictures to ``figures/`` beside it; returns the
    files written."""
    path = Path(path)
    folder = path.parent / "figures"
    made = {"loss": loss_figure(model), "reconstructions": reconstruction_figure(model, data, pca),
            "traversal": traversal_figure(model, data), "denoising": denoising_figure(model, data)}
    written, pictures = [], {}
    for name, image in made.items():
        if image is None:
            continue
        target = folder / f"{path.stem}-{name}.png"
        write_bytes_atomic(target, _png(image))
        written.append(target)
        pictures[name] = f"figures/{target.name}"
    write_bytes_atomic(path, card_markdown(model, metrics, extra, pictures).encode())
    return [*written, path]
