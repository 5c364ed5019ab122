"""The autoencoder paradigm, measured: linear versus learned, noise in and essence out.

* **Linear versus learned** (``pca_comparison``): the test SSE of the model against PCA
  with as many components as the model has code dimensions (``aegui.pca``);
* **Noise in, essence out** (``denoising``): for each corruption (``aegui.corruption``) and
  strength, the distance to the clean frame of the corrupted input, of the model's
  reconstruction of it and of PCA's; ``gain`` is input distance / reconstruction distance
  (above 1: the reconstruction is nearer the clean digit than what the model was given).

Every distance is the squared error summed over the 784 pixels in [0, 1], per image, the
SSE of ``aegui eval``; figures are means over the images. ``aegui eval --pca`` and
``aegui eval --noise`` print them.

The window shows the same measures for the drawing on the canvas (``read_drawing``: its
frame through the model and PCA, through the zoo's models of every code size, and
corrupted then reconstructed), and ``aegui eval MODEL --drawing PNG`` prints them for a
saved drawing: the same function, so the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aegui import pca as pca_module
from aegui.corruption import KINDS, corrupt
from aegui.pca import PCA, sse

__all__ = ["DrawingReading", "NOISE_SEED", "NoiseSetting", "STRENGTHS", "denoising", "describe_denoising",
           "describe_pca", "describe_reading", "pca_comparison", "read_drawing", "reconstruct_frames"]

STRENGTHS = (0.25, 0.5, 0.75, 1.0)
NOISE_SEED = 0


def reconstruct_frames(model, frames, batch: int = 1000) -> np.ndarray:
    """The model's reconstructions (N, 28, 28) float32 of frames (N, 28, 28) in [0, 1], in one
    fused pass per batch (``Autoencoder.reconstruct``, the app's path; a VAE decodes its mean)."""
    import torch   # here, not at the top: the window's UI thread imports this module

    frames = np.asarray(frames, np.float32).reshape(-1, 28, 28)
    device = next(model.parameters()).device
    out = np.empty_like(frames)
    with torch.inference_mode():
        for start in range(0, len(frames), batch):
            x = torch.from_numpy(np.ascontiguousarray(frames[start:start + batch])).to(device)
            _z, x_hat = model.reconstruct(x.reshape(-1, 1, 28, 28))
            out[start:start + len(x)] = x_hat.reshape(-1, 28, 28).float().cpu().numpy()
    return out


def _floats(images) -> np.ndarray:
    images = np.asarray(images)
    return images.astype(np.float32) / 255 if images.dtype == np.uint8 else images.astype(np.float32)


def pca_comparison(model, images, pca: PCA | None = None) -> dict:
    """The model's SSE per image on ``images`` (uint8 (N, 28, 28), or floats in [0, 1])
    beside PCA's with as many components as the model's code: ``pca_sse`` (clipped to
    [0, 1], as shown), ``pca_sse_unclipped`` (classic PCA), ``pca_variance_kept``."""
    pca = pca if pca is not None else pca_module.load()
    k = int(model.latent_dim)
    if k > pca.max_components:
        raise ValueError(f"{model.name} has a {k}-dimensional code; the PCA fit has only "
                         f"{pca.max_components} components (python -m aegui.pca --components {k})")
    x = _floats(images)
    return {"pca_components": k,
            "sse": float(sse(x, reconstruct_frames(model, x)).mean()),
            "pca_sse": float(sse(x, pca.reconstruct(x, k)).mean()),
            "pca_sse_unclipped": float(sse(x, pca.reconstruct(x, k, clip=False)).mean()),
            "pca_variance_kept": pca.kept(k)}


def denoising(model, images, kinds=KINDS, strengths=STRENGTHS, seed: int = NOISE_SEED,
              pca: PCA | None = None) -> dict:
    """How well the model undoes each corruption of ``images``: ``clean`` (its SSE on the
    clean images) and ``rows``, one per kind and strength, with the mean distances to the
    clean frame of the corrupted input (``input``), of its reconstruction (``output``) and
    of PCA's with as many components (``pca``), and ``gain`` = input / output."""
    pca = pca if pca is not None else pca_module.load()
    k = min(int(model.latent_dim), pca.max_components)
    clean = _floats(images)
    rows = []
    for kind in kinds:
        for strength in strengths:
            noisy = corrupt(clean, kind, strength, seed=seed)
            d_in = float(sse(noisy, clean).mean())
            d_out = float(sse(reconstruct_frames(model, noisy), clean).mean())
            d_pca = float(sse(pca.reconstruct(noisy, k), clean).mean())
            rows.append({"kind": kind, "strength": float(strength), "input": d_in, "output": d_out,
                         "pca": d_pca, "gain": d_in / d_out if d_out > 0 else float("inf")})
    return {"images": len(clean), "seed": seed, "pca_components": k,
            "clean": float(sse(reconstruct_frames(model, clean), clean).mean()), "rows": rows}


def describe_pca(result: dict, name: str) -> str:
    """``pca_comparison``'s result as the lines ``aegui eval --pca`` prints."""
    k = result["pca_components"]
    return (f"  linear vs learned, test SSE per image, code size {k}:\n"
            f"    {name:<12} {result['sse']:8.3f}\n"
            f"    PCA, {k:>2} comp. {result['pca_sse']:8.3f}   (unclipped {result['pca_sse_unclipped']:.3f}; "
            f"keeps {result['pca_variance_kept']:.1%} of the variance)\n"
            f"    PCA / {name}: {result['pca_sse'] / result['sse']:.2f}x the error")


def describe_denoising(result: dict, name: str) -> str:
    """``denoising``'s result as the table ``aegui eval --noise`` prints."""
    lines = [f"  noise in, essence out: distance to the clean digit (SSE per image, {result['images']} "
             f"test images, seed {result['seed']}); {name} on clean input: {result['clean']:.3f}",
             f"    {'corruption':<10} {'strength':>8} {'input':>8} {name:>10} {'PCA ' + str(result['pca_components']):>8} "
             f"{'gain':>6}"]
    for row in result["rows"]:
        lines.append(f"    {row['kind']:<10} {row['strength']:>8.2f} {row['input']:>8.3f} {row['output']:>10.3f} "
                     f"{row['pca']:>8.3f} {row['gain']:>5.2f}x")
    return "\n".join(lines)


# ---------------------------------------------------------------------- one drawing


@dataclass(frozen=True)
class NoiseSetting:
    """What the noise control asks for: a corruption (``aegui.corruption.KINDS``), its
    strength in [0, 1] and the seed of its randomness."""

    kind: str = "speckle"
    strength: float = 0.5
    seed: int = NOISE_SEED

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"corruption {self.kind!r}: expected one of {', '.join(KINDS)}")
        if not 0 <= self.strength <= 1:
            raise ValueError(f"strength must lie in [0, 1], got {self.strength!r}")


@dataclass(frozen=True, eq=False)
class DrawingReading:
    """One frame (28, 28) read every way the window shows. Errors and distances are SSE
    (summed over the pixels) against ``frame``. A part not asked for is None
    (``pca_components``, ``sizes``, ``noise``); ``pca_components`` is 0 where PCA was
    asked for but the fit has fewer components than the code (or there is no fit)."""

    frame: np.ndarray
    reconstruction: np.ndarray | None          # the model's; None for an empty frame
    error: float | None
    pca_components: int | None
    pca_image: np.ndarray | None
    pca_error: float | None
    # (name, code size, image, error) of each model, narrowest first
    sizes: tuple[tuple[str, int, np.ndarray, float], ...] | None
    noise: NoiseSetting | None
    noisy: np.ndarray | None                   # the frame corrupted
    noisy_reconstruction: np.ndarray | None    # the model's reconstruction of it
    noisy_distance: float | None               # noisy vs frame
    denoised_distance: float | None            # noisy_reconstruction vs frame

    @property
    def empty(self) -> bool:
        """Nothing drawn: no reconstruction, no numbers."""
        return self.error is None


def _one(model, frame: np.ndarray) -> np.ndarray:
    return reconstruct_frames(model, frame[None])[0]


def read_drawing(frame, model, pca: PCA | None | bool = None, sizes=None, noise: NoiseSetting | None = None,
                 reconstruction: np.ndarray | None = None,
                 interrupted: Callable[[], bool] | None = None) -> DrawingReading | None:
    """Read ``frame`` (28, 28) in [0, 1] with ``model``; beside PCA of as many components
    (``pca``: a fit; False: asked for, but there is none; None: not asked), through
    ``sizes`` ((name, model) each; None: not asked; ``model`` itself among them is not run
    again) and, with ``noise``, corrupted then reconstructed. ``reconstruction``: the
    model's, when already computed.

    ``interrupted`` is asked before each pass of a model: when it says yes, the reading
    stops and None is returned (the app gives way to a newer drawing that way)."""
    stop = interrupted or (lambda: False)
    frame = np.asarray(frame, np.float32).reshape(28, 28)
    if not frame.any():
        return DrawingReading(frame, None, None, None if pca is None else 0, None, None,
                              None if sizes is None else (), noise, None, None, None, None)
    recon = _one(model, frame) if reconstruction is None else np.asarray(reconstruction, np.float32)
    k = None if pca is None else int(model.latent_dim) if pca and model.latent_dim <= pca.max_components else 0
    pca_image = pca.reconstruct(frame, k)[0] if k else None
    row = None
    if sizes is not None:
        row = []
        for name, m in sizes:
            if m is not model and stop():
                return None
            image = recon if m is model else _one(m, frame)
            row.append((name, int(m.latent_dim), image, float(sse(frame, image)[0])))
        row = tuple(row)
    noisy = noisy_recon = None
    if noise is not None:
        if stop():
            return None
        noisy = corrupt(frame, noise.kind, noise.strength, seed=noise.seed)
        noisy_recon = _one(model, noisy)
    return DrawingReading(
        frame, recon, float(sse(frame, recon)[0]), k, pca_image,
        float(sse(frame, pca_image)[0]) if k else None, row, noise, noisy, noisy_recon,
        float(sse(noisy, frame)[0]) if noise is not None else None,
        float(sse(noisy_recon, frame)[0]) if noise is not None else None)


def describe_reading(reading: DrawingReading, name: str) -> dict:
    """The numbers of a reading, as ``aegui eval --drawing`` prints them (JSON-ready)."""
    out = {"model": name, "error": reading.error}
    if reading.pca_components:
        out.update(pca_components=reading.pca_components, pca_error=reading.pca_error)
    if reading.sizes is not None:
        out["sizes"] = {n: error for n, _k, _image, error in reading.sizes}
    if reading.noise is not None:
        out["noise"] = {"kind": reading.noise.kind, "strength": reading.noise.strength, "seed": reading.noise.seed,
                        "input": reading.noisy_distance, "output": reading.denoised_distance}
    return out
