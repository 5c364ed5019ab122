"""What the app exports, as bytes: images of decodings, and the latent vector as CSV or JSON.

No Qt: the window asks for a path and writes these bytes atomically (``write_file``); tests
read them back.
Images are 8-bit greyscale PNGs, ink bright on black as in MNIST, each 28x28 image
enlarged with square pixels.
"""

from __future__ import annotations

import io
import json

import numpy as np

from aegui.atomic_files import write_bytes_atomic
from aegui.preprocess import to_uint8

__all__ = ["latent_csv", "latent_json", "mosaic", "png_bytes", "side_by_side", "write_file"]


def write_file(path, data: bytes) -> None:
    """Write an export all or nothing into an existing folder; raises OSError whose message
    names the file and the reason ("No space left on device", "Permission denied")."""
    try:
        write_bytes_atomic(path, data, make_folder=False)
    except OSError as err:
        raise OSError(f"{path}: cannot write ({err.strerror or err})") from None


def mosaic(images, scale: int = 4, gap: int = 4) -> np.ndarray:
    """A grid of images (rows, cols, H, W) in [0, 1] as one uint8 array, each enlarged
    ``scale`` times, ``gap`` black pixels between them."""
    images = np.asarray(images)
    if images.ndim != 4 or 0 in images.shape:
        raise ValueError(f"expected a non-empty grid of images (rows, cols, H, W), got {images.shape}")
    rows, cols, h, w = images.shape
    big = np.kron(to_uint8(images), np.ones((1, 1, scale, scale), np.uint8))
    h, w = h * scale, w * scale
    out = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), np.uint8)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = big[r, c]
    return out


def side_by_side(*images, scale: int = 8, gap: int = 8) -> np.ndarray:
    """Images (H, W) in [0, 1] in one row (the drawing as framed, its reconstruction)."""
    return mosaic(np.stack([np.asarray(im, np.float32) for im in images])[None], scale, gap)


def png_bytes(pixels: np.ndarray) -> bytes:
    """A 2-D uint8 array as an 8-bit greyscale PNG."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, np.uint8)).save(out, format="PNG")
    return out.getvalue()


def latent_csv(z, drawing=None, edited=None) -> bytes:
    """``dim,z`` rows (plus ``drawing_z,edited`` when given): the code shown, and the
    drawing's own code with which dimensions were edited."""
    z = np.asarray(z, np.float32).reshape(-1)
    header = ["dim", "z"] + (["drawing_z", "edited"] if drawing is not None else [])
    lines = [",".join(header)]
    for i, value in enumerate(z):
        row = [str(i), _number(value)]
        if drawing is not None:
            row += [_number(drawing[i]), str(int(bool(edited[i]))) if edited is not None else "0"]
        lines.append(",".join(row))
    return ("\n".join(lines) + "\n").encode()


def latent_json(z, model: dict, drawing=None, edited=None) -> bytes:
    """The code shown as JSON: ``{"model": {...}, "latent_dim", "z", "drawing_z", "edited"}``;
    ``model`` says which model made it (name, kind, source)."""
    z = np.asarray(z, np.float32).reshape(-1)
    doc = {"model": model, "latent_dim": int(z.size), "z": [float(v) for v in z]}
    if drawing is not None:
        doc["drawing_z"] = [float(v) for v in np.asarray(drawing, np.float32).reshape(-1)]
        doc["edited"] = [int(i) for i in np.flatnonzero(edited)] if edited is not None else []
    return (json.dumps(doc, indent=2) + "\n").encode()


def _number(value) -> str:
    # repr of the float32 as a Python float: reads back to exactly the same float32.
    return repr(float(np.float32(value)))
