"""The user's own drawings: a plain folder of labelled PNG files, written, listed, read, deleted.

The app's collect mode writes this folder (under the user's data folder,
``QStandardPaths.AppDataLocation``/drawings) and ``aegui train --extra-data DIR`` reads it.
Its layout::

    DIR/
      0/ 1/ ... 9/          one folder per digit: the label of every drawing in it
        <id>.png            the drawing as drawn: an 8-bit greyscale PNG, ink bright (255)
                            on black (0); the app writes its whole 512x512 canvas
        <id>.28.png         the same drawing framed like MNIST (``aegui.preprocess.mnist_style``):
                            28x28, 8-bit greyscale, ink bright: what the network sees

``<id>`` is when the drawing was saved, ``YYYYmmdd-HHMMSS-ffffff`` in UTC, so the files sort
in the order they were made (``-2``, ``-3`` ... are appended on a collision).

Either file alone is a drawing, so a folder can be filled by hand: a ``<name>.png`` of any
size is framed when read (dark ink on light paper, told by its border, is inverted first,
grey paper made black, and transparency is laid on white); a ``<name>.28.png`` is used as
it is and must be 28x28.
Names starting with a dot are ignored (they are the temporary files of a save in progress):
every file is written to a temporary file first and renamed into place, so a crash never
leaves half a PNG under a real name (and the next save removes what a killed one left).
Suffixes are matched in any case (``SCAN.PNG`` is a drawing). Deleting from the app moves
a drawing's files into ``DIR/.deleted/`` (``move_to_trash``), from where Undo puts them
back (``Trashed.restore``); the app empties it when it starts and when it closes. An image larger than
``MAX_PIXELS`` is refused from its header, before it is decoded (a large JPEG photo is
decoded at a reduced scale instead), so a 144-Mpx PNG costs nothing to refuse.

Pure numpy, Pillow and the standard library: no Qt, no torch.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from aegui.atomic_files import write_bytes_atomic
from aegui.errors import InputError
from aegui.exports import png_bytes
from aegui.paper import ink_from_picture
from aegui.preprocess import mnist_style, to_uint8

__all__ = ["DrawingsError", "FRAME_SUFFIX", "LABELS", "MAX_PIXELS", "Sample", "TRASH", "Trashed", "counts",
           "delete_drawing", "empty_trash", "list_drawings", "load_training_set", "move_to_trash", "read_grey",
           "save_drawing", "write_png"]

LABELS = tuple(range(10))
FRAME_SUFFIX = ".28.png"
ORIGINAL_SUFFIX = ".png"
_ID = re.compile(r"^[^./\\][^/\\]*$")
# The largest image read as a drawing: 4096x4096, far beyond the app's 512x512 canvas or a
# scan of one digit; decoding it costs at most some 100 MB.
MAX_PIXELS = 4096 * 4096


class DrawingsError(InputError):
    """A drawing or a drawings folder could not be written or read; the message names the
    file and what was expected."""


@dataclass(frozen=True)
class Sample:
    """One drawing in the folder: its label and id; either of its two files may be missing.
    ``suffixes``: how the folder spells its two files' suffixes (``.PNG`` is one too)."""

    root: Path
    label: int
    id: str
    suffixes: tuple[str, str] = (ORIGINAL_SUFFIX, FRAME_SUFFIX)

    @property
    def original_path(self) -> Path:
        return self.root / str(self.label) / f"{self.id}{self.suffixes[0]}"

    @property
    def frame_path(self) -> Path:
        return self.root / str(self.label) / f"{self.id}{self.suffixes[1]}"

    def frame(self) -> np.ndarray:
        """What the network sees: (28, 28) uint8, ink bright. Read from ``<id>.28.png``, or
        framed from the original when that file is missing."""
        if self.frame_path.is_file():
            frame = read_grey(self.frame_path, polarity=False)
            if frame.shape != (28, 28):
                raise DrawingsError(f"{self.frame_path}: a framed drawing must be 28x28, got "
                                    f"{frame.shape[1]}x{frame.shape[0]}")
            return frame
        return to_uint8(mnist_style(self.original()))

    def original(self) -> np.ndarray:
        """The drawing as drawn: 2-D uint8, ink bright; the 28x28 frame when only that exists."""
        if self.original_path.is_file():
            return read_grey(self.original_path)
        if self.frame_path.is_file():
            return read_grey(self.frame_path, polarity=False)
        raise DrawingsError(f"{self.original_path}: the drawing is gone (deleted meanwhile?)")


# ---------------------------------------------------------------------- writing


def save_drawing(root: str | os.PathLike, label: int, canvas, frame=None) -> Sample:
    """Save a drawing (a 2-D image, ink bright: uint8 0..255 or float 0..1) with its digit
    ``label``: the original and its 28x28 framing (computed unless ``frame`` is given).
    Raises DrawingsError for an empty drawing or a bad label, OSError when it cannot write."""
    if not isinstance(label, (int, np.integer)) or int(label) not in LABELS:
        raise DrawingsError(f"label {label!r}: expected a digit 0..9")
    original = _as_uint8(canvas)
    if original.ndim != 2 or original.size == 0:
        raise DrawingsError(f"a drawing must be a non-empty 2-D image, got shape {original.shape}")
    framed = to_uint8(mnist_style(original)) if frame is None else _as_uint8(frame)
    if framed.shape != (28, 28):
        raise DrawingsError(f"a framing must be 28x28, got {framed.shape}")
    if not framed.any():
        raise DrawingsError("the drawing is empty: draw the digit first")
    folder = Path(root) / str(int(label))
    folder.mkdir(parents=True, exist_ok=True)
    sample = Sample(Path(root), int(label), _new_id(folder))
    # The framing first: should the second write fail, the framing alone is still a
    # valid drawing (see the module docstring), never half of one.
    write_png(sample.frame_path, framed)
    write_png(sample.original_path, original)
    return sample


def delete_drawing(sample: Sample) -> None:
    """Remove both files of a drawing (those that exist)."""
    for path in (sample.original_path, sample.frame_path):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


TRASH = ".deleted"      # in the drawings folder: no digit's folder, so nothing reads it as drawings


@dataclass(frozen=True)
class Trashed:
    """Drawings moved to the trash together: ``moves`` (where each file was, where it is)."""

    samples: tuple[Sample, ...]
    moves: tuple[tuple[Path, Path], ...]

    def restore(self) -> list[Sample]:
        """Put the files back where they were (a name taken meanwhile gets a new id);
        returns the drawings as they are now. OSError when a file cannot be moved."""
        restored = []
        moved = dict(self.moves)
        for sample in self.samples:
            folder = sample.root / str(sample.label)
            folder.mkdir(parents=True, exist_ok=True)
            taken = any((folder / f"{sample.id}{suffix}").exists() for suffix in sample.suffixes)
            back = Sample(sample.root, sample.label, _new_id(folder) if taken else sample.id, sample.suffixes)
            for old, new in ((sample.original_path, back.original_path), (sample.frame_path, back.frame_path)):
                if old in moved and moved[old].exists():
                    os.replace(moved[old], new)
            restored.append(back)
        return restored


def move_to_trash(samples, root: str | os.PathLike) -> Trashed:
    """Move the drawings' files into ``root/.deleted`` (a batch folder of their own), where
    ``Trashed.restore`` finds them. All or nothing: on an OSError the files moved so far go
    back before it is raised."""
    batch = Path(root) / TRASH / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    samples = tuple(samples)
    moves: list[tuple[Path, Path]] = []
    try:
        for sample in samples:
            for path in (sample.original_path, sample.frame_path):
                if path.exists():
                    target = batch / str(sample.label) / path.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
                    moves.append((path, target))
    except OSError:
        for old, new in reversed(moves):
            os.replace(new, old)
        raise
    return Trashed(samples, tuple(moves))


def empty_trash(root: str | os.PathLike) -> None:
    """Remove what deleting left in ``root/.deleted`` (Undo can no longer bring it back)."""
    import shutil

    shutil.rmtree(Path(root) / TRASH, ignore_errors=True)


def write_png(path: str | os.PathLike, pixels: np.ndarray) -> None:
    """Write a 2-D uint8 array as an 8-bit greyscale PNG, all or nothing."""
    write_bytes_atomic(path, png_bytes(pixels))


def _as_uint8(image) -> np.ndarray:
    """uint8 as is, other integers and bool as 0..255, floats as 0..1 (the framing's rule)."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(image.dtype, np.integer):
        return np.clip(image, 0, 255).astype(np.uint8)
    return to_uint8(image)


def _new_id(folder: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    candidate, n = stamp, 1
    while (folder / f"{candidate}{ORIGINAL_SUFFIX}").exists() or (folder / f"{candidate}{FRAME_SUFFIX}").exists():
        n += 1
        candidate = f"{stamp}-{n}"
    return candidate


# ---------------------------------------------------------------------- reading


def list_drawings(root: str | os.PathLike, label: int | None = None) -> list[Sample]:
    """The drawings of one digit (or of all, by digit), oldest first. A missing folder
    holds no drawings; one that cannot be read raises DrawingsError naming it."""
    root = Path(root)
    labels = LABELS if label is None else (int(label),)
    samples = []
    for digit in labels:
        folder = root / str(digit)
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:
            raise DrawingsError(f"{folder}: cannot read the folder: {err.strerror or err}") from None
        found: dict[str, list[str]] = {}
        for name in sorted(names, key=lambda n: (n.lower() != n, n)):   # lower-case spellings first
            lower = name.lower()
            if name.startswith(".") or not lower.endswith(ORIGINAL_SUFFIX):
                continue
            which = 1 if lower.endswith(FRAME_SUFFIX) else 0
            cut = len(FRAME_SUFFIX) if which else len(ORIGINAL_SUFFIX)
            stem = name[:-cut]
            if stem and _ID.match(stem) and (folder / name).is_file():
                spellings = found.setdefault(stem, [None, None])
                spellings[which] = spellings[which] or name[-cut:]
        samples += [Sample(root, digit, stem, (spelled[0] or ORIGINAL_SUFFIX, spelled[1] or FRAME_SUFFIX))
                    for stem, spelled in sorted(found.items())]
    return samples


def counts(root: str | os.PathLike) -> dict[int, int]:
    """How many drawings there are of each digit (every digit is a key)."""
    per_label = dict.fromkeys(LABELS, 0)
    for sample in list_drawings(root):
        per_label[sample.label] += 1
    return per_label


def load_training_set(root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """All drawings of a folder as training data: uint8 images (N, 28, 28), ink bright, and
    uint8 labels (N,), by digit then age. Raises DrawingsError when the folder does not
    exist, holds no drawings, or a file cannot be read (the message names it)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DrawingsError(f"{root}: no such folder; expected a drawings folder with one "
                            f"subfolder per digit (0 ... 9) of PNG files (see aegui.drawings)")
    samples = list_drawings(root)
    if not samples:
        raise DrawingsError(f"{root}: holds no drawings; expected PNG files in its subfolders "
                            f"0 ... 9 (the subfolder is the digit)")
    images = np.stack([sample.frame() for sample in samples])
    labels = np.array([sample.label for sample in samples], np.uint8)
    return images, labels


def read_grey(path: str | os.PathLike, polarity: bool = True) -> np.ndarray:
    """A PNG (or any image Pillow reads) as 2-D uint8, ink bright. With ``polarity``, the
    paper's level and the ink's side are estimated (``aegui.paper``): dark ink on paper is
    inverted, and grey paper (a photo) becomes black. An image of more
    than ``MAX_PIXELS`` is refused from its header (a JPEG is decoded smaller instead)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 Mpx; the bound below is lower, and says which file.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            _bounded(image, path)
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(paper, image.convert("RGBA"))
            grey = np.asarray(image.convert("L"), np.uint8).copy()
    except DrawingsError:
        raise
    except Image.DecompressionBombError as err:
        raise DrawingsError(f"{path}: {_too_large(str(err))}") from None
    except OSError as err:
        raise DrawingsError(f"{path}: cannot read the image ({err.strerror or err})") from None
    except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many kinds on a broken file
        raise DrawingsError(f"{path}: cannot read the image ({type(err).__name__}: {err})") from None
    return ink_from_picture(grey) if polarity else grey


def _bounded(image, path) -> None:
    """Refuse an image of more than MAX_PIXELS before decoding it; a JPEG is asked to
    decode at 1/2, 1/4 or 1/8 scale instead, which costs less than the full one."""
    width, height = image.size
    if width * height > MAX_PIXELS and image.format == "JPEG":
        shrink = math.ceil(math.sqrt(width * height / MAX_PIXELS))
        image.draft("L", (math.ceil(width / shrink), math.ceil(height / shrink)))
        width, height = image.size
    if width * height > MAX_PIXELS:
        raise DrawingsError(f"{path}: {_too_large(f'{width}x{height}')}")


def _too_large(size: str) -> str:
    if "pixels" in size:  # Pillow's own message: "Image size (N pixels) exceeds ..."
        size = re.sub(r".*\((\d+) pixels\).*", lambda m: f"{int(m.group(1)):,}", size)
    return (f"the image is {size} pixels, larger than a drawing may be (at most "
            f"{MAX_PIXELS:,} pixels, {math.isqrt(MAX_PIXELS)}x{math.isqrt(MAX_PIXELS)}); scale it down")
