"""Readers for MNIST-like digit data sets: the Keras ``mnist.npz`` and the IDX files.

This module holds ``load_digits``, which reads a data set the user already has
on disk into a ``Digits`` (28x28 uint8 images, uint8 labels 0..9, and the
source's path and sha256), ``resolve_data_path`` for the ``--data`` flag /
``AEGUI_DATA`` convention, and ``DataError``, raised with one message naming the
file and what was expected.  Pure numpy and the standard library; nothing here
downloads anything, and nothing copies data into the repository.

Layouts read (see shared/data/README.md):

* a ``.npz`` with keys ``x_train``, ``y_train``, ``x_test``, ``y_test`` (the
  Keras ``mnist.npz``).  Images of another size (USPS is 16x16) are framed to
  28x28 by ``aegui.preprocess.mnist_style`` and quantised to uint8;
* the four IDX files (``train-images-idx3-ubyte`` ... each optionally ``.gz``),
  given as their directory, a parent with ``MNIST/raw/`` (torchvision) or
  ``raw/``, or the path of one of the four files;
* a directory holding ``mnist.npz`` (so ``AEGUI_DATA`` can name shared/data).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aegui.preprocess import mnist_style, to_uint8

__all__ = ["DataError", "Digits", "file_sha256", "load_digits", "resolve_data_path"]

ENV_VAR = "AEGUI_DATA"
SPLITS = ("x_train", "y_train", "x_test", "y_test")
# Fixed order: also the order the IDX digest hashes the files in.
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
SIDE = 28

_WHERE_TO_GET_IT = (
    "MNIST can be downloaded as the Keras mnist.npz or as the four IDX files "
    "torchvision keeps under MNIST/raw/; nothing is downloaded automatically"
)


class DataError(ValueError):
    """A data set could not be read; the message names the file and what was expected."""


@dataclass(frozen=True, eq=False)
class Digits:
    """A digit data set: 28x28 uint8 images (0 = background) and labels 0..9.

    ``source`` is the path it was read from; ``sha256`` is the hex digest of
    that file, or for IDX files the digest of their decompressed contents
    concatenated in the order train images, train labels, test images, test
    labels (so .gz and plain copies of the same data agree).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: str

    def __repr__(self) -> str:
        return (
            f"Digits(train={len(self.x_train)}, test={len(self.x_test)}, 28x28 uint8, "
            f"source={self.source!r}, sha256={self.sha256[:12]}...)"
        )


def resolve_data_path(arg: str | os.PathLike | None) -> Path:
    """The data path: ``arg`` if given, else $AEGUI_DATA, else DataError saying how to set one."""
    chosen = arg if arg not in (None, "") else os.environ.get(ENV_VAR) or None
    if chosen is None:
        raise DataError(
            f"no data set given: pass --data PATH or set {ENV_VAR} to a mnist.npz "
            f"file or a directory of MNIST IDX files ({_WHERE_TO_GET_IT})"
        )
    return Path(chosen).expanduser()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    return digest.hexdigest()


def load_digits(path: str | os.PathLike) -> Digits:
    """Read a digit data set from a .npz file, an IDX directory or one IDX file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(
            f"{path}: no such file or directory; expected a mnist.npz file or a "
            f"directory of MNIST IDX files ({_WHERE_TO_GET_IT})"
        )
    if path.is_dir():
        return _load_directory(path)
    if _idx_split(path) is not None:
        return _load_idx(path.parent)
    return _load_npz(path)


def _load_directory(root: Path) -> Digits:
    for candidate in (root, root / "MNIST" / "raw", root / "raw"):
        if any(_idx_file(candidate, name) for name in IDX_NAMES.values()):
            return _load_idx(candidate)
    if (root / "mnist.npz").is_file():
        return _load_npz(root / "mnist.npz")
    names = ", ".join(IDX_NAMES.values())
    raise DataError(
        f"{root}: no MNIST data found; expected mnist.npz or the IDX files {names} "
        f"(each optionally .gz) in it, in MNIST/raw/ or in raw/"
    )


def _idx_split(path: Path) -> str | None:
    """Which split an IDX file name holds, or None if it is not one of the four."""
    name = path.name.removesuffix(".gz")
    return next((split for split, stem in IDX_NAMES.items() if stem == name), None)


def _idx_file(directory: Path, stem: str) -> Path | None:
    # Plain before .gz: torchvision keeps both, and the plain one reads faster.
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _load_idx(directory: Path) -> Digits:
    digest = hashlib.sha256()
    arrays = {}
    for split, stem in IDX_NAMES.items():
        path = _idx_file(directory, stem)
        if path is None:
            raise DataError(f"{directory / stem}: missing; expected {stem} or {stem}.gz")
        content = _read_idx_bytes(path)
        digest.update(content)
        magic = IDX_IMAGES_MAGIC if split.startswith("x") else IDX_LABELS_MAGIC
        arrays[split] = (_parse_idx(content, path, magic), path)
    x_train = _checked_images(*arrays["x_train"])
    x_test = _checked_images(*arrays["x_test"])
    return Digits(
        x_train=x_train,
        y_train=_checked_labels(*arrays["y_train"], len(x_train)),
        x_test=x_test,
        y_test=_checked_labels(*arrays["y_test"], len(x_test)),
        source=str(directory),
        sha256=digest.hexdigest(),
    )


def _read_idx_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read (truncated or corrupt?): {err}") from None


def _parse_idx(content: bytes, path: Path, expected_magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes: big-endian magic, dimension sizes, then the data."""
    if len(content) < 4:
        raise DataError(f"{path}: truncated: {len(content)} bytes, shorter than the IDX header")
    (magic,) = struct.unpack(">I", content[:4])
    if magic != expected_magic:
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}; expected 0x{expected_magic:08x} "
            f"(an IDX file of unsigned bytes with {expected_magic & 0xFF} dimension(s))"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{path}: truncated inside the IDX header ({len(content)} bytes)")
    shape = struct.unpack(f">{ndim}I", content[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(content) != expected:
        state = "truncated" if len(content) < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {state}: {len(content)} bytes, expected {expected} for shape {shape}"
        )
    # A copy, because frombuffer over bytes is read-only and torch.from_numpy
    # warns about that; npz arrays are writable, so both layouts behave alike.
    return np.frombuffer(content, np.uint8, offset=header).reshape(shape).copy()


def _load_npz(path: Path) -> Digits:
    arrays = _read_npz(path)
    x_train = _checked_images(arrays["x_train"], path, "x_train")
    x_test = _checked_images(arrays["x_test"], path, "x_test")
    return Digits(
        x_train=x_train,
        y_train=_checked_labels(arrays["y_train"], path, len(x_train), "y_train"),
        x_test=x_test,
        y_test=_checked_labels(arrays["y_test"], path, len(x_test), "y_test"),
        source=str(path),
        sha256=file_sha256(path),
    )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    expected = f"a .npz archive with keys {', '.join(SPLITS)} (the Keras mnist.npz layout)"
    try:
        # Our own handle: np.load leaks the one it opens when a zip is corrupt.
        with open(path, "rb") as stream:
            archive = np.load(stream, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"{path}: a single .npy array, not {expected}")
            with archive:
                missing = [key for key in SPLITS if key not in archive.files]
                if missing:
                    raise DataError(
                        f"{path}: missing key(s) {', '.join(missing)}; expected {expected}, "
                        f"found keys {', '.join(archive.files) or 'none'}"
                    )
                return {key: archive[key] for key in SPLITS}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # np.load takes any file that is neither zip nor .npy for a pickle and
        # refuses it; "pickled data" would mislead someone holding a stray file.
        detail = "unrecognised file format" if "pickle" in str(err) else str(err)
        raise DataError(f"{path}: not {expected}: {detail}") from None


def _checked_images(images: np.ndarray, path: Path, key: str = "images") -> np.ndarray:
    """Images as (N, 28, 28) uint8; other sizes are framed MNIST-style."""
    where = f"{path}: {key}" if key != "images" else str(path)
    if images.ndim != 3:
        raise DataError(f"{where}: expected images of shape (N, rows, cols), got {images.shape}")
    if len(images) == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{where}: expected at least one non-empty image, got {images.shape}")
    images = _as_uint8(images, where)
    if images.shape[1:] == (SIDE, SIDE):
        return images
    return np.stack([to_uint8(mnist_style(image)) for image in images])


def _as_uint8(images: np.ndarray, where: str) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.integer):
        raise DataError(f"{where}: expected uint8 pixel values 0..255, got dtype {images.dtype}")
    if images.min() < 0 or images.max() > 255:
        raise DataError(
            f"{where}: pixel values {images.min()}..{images.max()} do not fit uint8 0..255"
        )
    return images.astype(np.uint8)


def _checked_labels(labels: np.ndarray, path: Path, count: int, key: str = "labels") -> np.ndarray:
    """Labels as (count,) uint8 in 0..9."""
    where = f"{path}: {key}" if key != "labels" else str(path)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{where}: expected a 1-D array of integer labels, got {labels.dtype} {labels.shape}"
        )
    if len(labels) != count:
        raise DataError(f"{where}: {len(labels)} labels for {count} images; expected one per image")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(
            f"{where}: labels range {labels.min()}..{labels.max()}; expected digits 0..9"
        )
    return labels.astype(np.uint8, copy=False)
