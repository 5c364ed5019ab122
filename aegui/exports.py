"""What the app exports, as bytes, and the one PNG encoder of the app.

* Encoders: ``png_bytes`` (every PNG the app writes: drawings, exports, screenshots),
  ``gif_bytes`` (the interpolation as an animation), ``latent_csv``, ``latent_json``.
* Layout: ``mosaic`` puts 28x28 images in a grid (a strip is a grid of one row),
  enlarged with square pixels, ink bright on black as in MNIST; ``coloured`` paints ink
  levels in the paper and ink colours of the screen (``LIGHT``: dark ink on white paper,
  the default; the app passes its palette's), so that what is written looks like what
  is shown.
* Exports of a session (``reconstruction_png``, ``latent_file``, ``manifold_png``,
  ``strip_file``): functions of what the session holds, raising ``NothingToExport``
  (its message is for the user) when there is nothing yet.
* ``write``: bytes to a path the user chose, atomically, never creating folders;
  ``with_suffix`` gives a path the format's extension when it has not got it.

No Qt and no torch: the window asks for a path and writes these bytes; tests read them back.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from aegui.atomic_files import write_bytes_atomic
from aegui.preprocess import to_uint8

__all__ = ["FORMATS", "LIGHT", "NothingToExport", "coloured", "gif_bytes", "latent_csv", "latent_file", "latent_json",
           "manifold_png", "mosaic", "png_bytes", "reconstruction_png", "side_by_side", "strip_file", "with_suffix",
           "write"]

# File-dialog filters of the formats the app writes.
FORMATS = {"csv": "CSV (*.csv)", "json": "JSON (*.json)", "png": "PNG image (*.png)",
           "gif": "Animated GIF (*.gif)"}


# (paper, ink) as RGB: dark ink on white paper, as the app shows drawings in a light palette.
LIGHT = ((255, 255, 255), (0, 0, 0))


class NothingToExport(LookupError):
    """There is nothing of that kind to export yet; the message says what to do first."""


# ---------------------------------------------------------------------- encoders


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit PNG of a uint8 array: (H, W) greyscale, (H, W, 3) RGB or (H, W, 4) RGBA."""
    from PIL import Image

    pixels = np.ascontiguousarray(pixels, np.uint8)
    if pixels.ndim != 2 and not (pixels.ndim == 3 and pixels.shape[2] in (3, 4)):
        raise ValueError(f"expected (H, W), (H, W, 3) or (H, W, 4) pixels, got shape {pixels.shape}")
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def gif_bytes(images, scale: int = 4, frame_ms: int = 120, colours=LIGHT) -> bytes:
    """An animated GIF going A -> B -> A through ``images`` (S, H, W) in [0, 1], looping,
    in ``colours`` (paper, ink)."""
    from PIL import Image

    frames = [np.kron(to_uint8(im), np.ones((scale, scale), np.uint8)) for im in images]
    if not frames:
        raise ValueError("no images to export")
    table = _table(colours).astype(np.uint8).reshape(-1).tolist()
    pictures = []
    for f in frames + frames[-2:0:-1]:
        picture = Image.frombytes("P", (f.shape[1], f.shape[0]), f.tobytes())
        picture.putpalette(table)                      # ink level i is colour i of the gradient
        pictures.append(picture)
    out = io.BytesIO()
    pictures[0].save(out, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=frame_ms, loop=0, optimize=False, disposal=1)
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


# ---------------------------------------------------------------------- layout


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


def _table(colours) -> np.ndarray:
    """(256, 3): ink level 0 (paper) to 255 (ink), the screen's gradient."""
    paper, ink = (np.asarray(c[:3], np.float64) for c in colours)
    t = np.linspace(0.0, 1.0, 256)[:, None]
    return np.rint(paper + (ink - paper) * t)


def coloured(levels: np.ndarray, colours=LIGHT) -> np.ndarray:
    """Ink levels (H, W) uint8 (0 paper, 255 ink) in ``colours`` (paper, ink): greyscale
    (H, W) when both are greys, else RGB (H, W, 3)."""
    table = _table(colours).astype(np.uint8)
    levels = np.asarray(levels, np.uint8)
    if all(len(set(c[:3])) == 1 for c in colours):
        return table[:, 0][levels]
    return table[levels]


def side_by_side(*images, scale: int = 8, gap: int = 8) -> np.ndarray:
    """Images (H, W) in [0, 1] in one row (the drawing as framed, its reconstruction)."""
    return mosaic(np.stack([np.asarray(im, np.float32) for im in images])[None], scale, gap)


# ---------------------------------------------------------------------- exports of a session


def reconstruction_png(session, colours=LIGHT) -> bytes:
    """The drawing as the network sees it beside what the reconstruction view shows (an
    edited code's decoding, if edited), enlarged 8x, in ``colours`` (paper, ink)."""
    drawing, output = session.drawing, session.output
    if session.info is None or drawing is None or drawing.z is None or output is None:
        raise NothingToExport("Draw a digit first")
    return png_bytes(coloured(side_by_side(drawing.frame, output.image), colours))


def latent_file(session, fmt: str) -> bytes:
    """The code shown (and the drawing's own, with the edited dimensions) as CSV or JSON."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"format must be 'csv' or 'json', not {fmt!r}")
    info, edit = session.info, session.edit
    if info is None or session.drawing is None or session.drawing.z is None:
        raise NothingToExport("Draw a digit first")
    if fmt == "csv":
        return latent_csv(edit.current, edit.drawing, edit.edited)
    model = {"name": info.name, "kind": info.kind, "source": info.source}
    return latent_json(edit.current, model, edit.drawing, edit.edited)


def manifold_png(session, colours=LIGHT) -> bytes:
    """The manifold grid's decodings, 2x, no gaps, in ``colours`` (paper, ink)."""
    if session.manifold is None:
        raise NothingToExport("Show the manifold grid first")
    return png_bytes(coloured(mosaic(session.manifold[1], scale=2, gap=0), colours))


def strip_file(session, fmt: str, colours=LIGHT) -> bytes:
    """The interpolation strip from A to B as one PNG, or as an animated GIF, in
    ``colours`` (paper, ink)."""
    if fmt not in ("png", "gif"):
        raise ValueError(f"format must be 'png' or 'gif', not {fmt!r}")
    if session.strip is None:
        raise NothingToExport("Pin A and B first")
    if fmt == "png":
        return png_bytes(coloured(mosaic(session.strip[None]), colours))
    return gif_bytes(session.strip, colours=colours)


def with_suffix(path: str | os.PathLike, fmt: str) -> str:
    """``path``, ending in ``.fmt`` (added when it ends otherwise: a PNG is never written
    under another name or none)."""
    path = os.fspath(path)
    return path if path.lower().endswith(f".{fmt.lower()}") else f"{path}.{fmt}"


def write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` all or nothing to a path the user chose; OSError names the file.
    A missing folder is an error (a path from a dialog is never half made up)."""
    try:
        write_bytes_atomic(path, data, make_folder=False)
    except OSError as err:
        raise OSError(f"{os.fspath(path)}: cannot write ({err.strerror or err})") from None
