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

Hostile or broken files: every size a file declares (an IDX header's dimensions, a .npy
header's shape, a zip member's length) is checked against what the file holds and
against ``MAX_DATA_BYTES`` for the whole data set *before* anything of that size is
inflated or allocated; a .gz is inflated only as far as its header says it should go.
Arrays of Python objects are never loaded (that would mean unpickling).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aegui.errors import InputError
from aegui.preprocess import mnist_style, to_uint8

__all__ = ["DataError", "Digits", "file_sha256", "load_digits", "read_npz", "resolve_data_path"]

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
# The most a data set may hold, all splits together: MNIST is 55 MB, EMNIST's largest
# split 640 MB. A file declaring more is refused before anything is read.
MAX_DATA_BYTES = 1 << 30
_CHUNK = 1 << 20

_WHERE_TO_GET_IT = (
    "MNIST can be downloaded as the Keras mnist.npz or as the four IDX files "
    "torchvision keeps under MNIST/raw/; nothing is downloaded automatically"
)


class DataError(InputError):
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
    try:
        os.listdir(root)
    except OSError as err:
        raise DataError(f"{root}: cannot read the folder: {err.strerror or err}") from None
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
    paths = {}
    for split, stem in IDX_NAMES.items():
        paths[split] = _idx_file(directory, stem)
        if paths[split] is None:
            raise DataError(f"{directory / stem}: missing; expected {stem} or {stem}.gz")
    digest = hashlib.sha256()
    arrays = {}
    with contextlib.ExitStack() as files:
        # Every header first, so that the sizes declared are bounded before any data is read.
        opened = {}
        for split, path in paths.items():
            stream = files.enter_context(_open_idx(path))
            magic = IDX_IMAGES_MAGIC if split.startswith("x") else IDX_LABELS_MAGIC
            with _reading(path):
                opened[split] = (stream, *_read_idx_header(stream, path, magic))
        _check_total({paths[split]: (shape, 1) for split, (_, _, shape) in opened.items()})
        for split, (stream, header, shape) in opened.items():
            with _reading(paths[split]):
                content = _read_idx_data(stream, paths[split], len(header), shape)
            digest.update(header)
            digest.update(content)
            arrays[split] = (np.frombuffer(content, np.uint8).reshape(shape), paths[split])
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


def _open_idx(path: Path):
    """The file's (decompressed) bytes as a stream."""
    try:
        return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None


@contextlib.contextmanager
def _reading(path: Path):
    """Errors of reading ``path`` (a .gz that ends early or is garbage) as a DataError naming it."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read (truncated or corrupt?): {err}") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None


def _read_idx_header(stream, path: Path, expected_magic: int) -> tuple[bytes, tuple[int, ...]]:
    """An IDX file of unsigned bytes: big-endian magic, then the dimension sizes."""
    head = stream.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated: {len(head)} bytes, shorter than the IDX header")
    (magic,) = struct.unpack(">I", head)
    if magic != expected_magic:
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}; expected 0x{expected_magic:08x} "
            f"(an IDX file of unsigned bytes with {expected_magic & 0xFF} dimension(s))"
        )
    ndim = magic & 0xFF
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path}: truncated inside the IDX header ({4 + len(dims)} bytes)")
    return head + dims, struct.unpack(f">{ndim}I", dims)


def _read_idx_data(stream, path: Path, offset: int, shape: tuple[int, ...]) -> bytearray:
    """Exactly the data the header declares, read a chunk at a time (memory grows with what
    is there, not with what is declared); a byte more is an error, found without
    inflating the rest."""
    expected = math.prod(shape)
    content = bytearray()
    while len(content) < expected and (chunk := stream.read(min(_CHUNK, expected - len(content)))):
        content += chunk
    if len(content) < expected:
        raise DataError(f"{path}: truncated: {offset + len(content)} bytes, expected "
                        f"{offset + expected} for shape {shape}")
    if stream.read(1):
        raise DataError(f"{path}: has trailing bytes: more than the {offset + expected} bytes its header "
                        f"declares for shape {shape}")
    return content


def _check_total(declared: dict, max_bytes: int = MAX_DATA_BYTES, error: type[InputError] = DataError) -> None:
    """Refuse a data set whose parts (name -> (bytes, shape)) declare more than
    ``max_bytes`` in all, naming the largest part."""
    sizes = {name: math.prod(shape) * itemsize for name, (shape, itemsize) in declared.items()}
    if sum(sizes.values()) > max_bytes:
        culprit = max(sizes, key=sizes.get)
        raise error(f"{culprit}: declares shape {declared[culprit][0]}, {sizes[culprit]:,} bytes of data; a "
                    f"file of this kind may hold at most {max_bytes:,} bytes in all (damaged, or not "
                    f"what it should be)")


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
    return read_npz(path, SPLITS, expected=expected)


def read_npz(path: str | os.PathLike, keys, *, expected: str, max_bytes: int = MAX_DATA_BYTES,
             error: type[InputError] = DataError) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of a .npz archive, every member's .npy header checked (its
    declared size against the member's and all of them together against ``max_bytes``)
    before any array is read; arrays of Python objects are refused. ``expected`` says what
    the file should be, for the messages, which name the file and raise ``error``."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            if stream.read(6) == b"\x93NUMPY":
                raise error(f"{path}: a single .npy array, not {expected}")
            stream.seek(0)
            with zipfile.ZipFile(stream) as archive:
                members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
                missing = [key for key in keys if key not in members]
                if missing:
                    raise error(
                        f"{path}: missing key(s) {', '.join(missing)}; expected {expected}, "
                        f"found keys {', '.join(members) or 'none'}"
                    )
                # Every header first: the sizes they declare are checked before any array is read.
                headers = {key: _npy_header(archive, members[key], path, key, error) for key in keys}
                _check_total({f"{path}: {key}": headers[key] for key in keys}, max_bytes, error)
                return {key: _npy_array(archive, members[key]) for key in keys}
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, RuntimeError, NotImplementedError) as err:
        raise error(f"{path}: not {expected}: {err}") from None
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror or err}") from None


def _npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str,
                error: type[InputError] = DataError) -> tuple[tuple, int]:
    """A member's .npy header checked against the member's size: (shape, item size)."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = read(member)
        except (ValueError, TypeError, KeyError, SyntaxError, tokenize.TokenError, OverflowError) as err:
            # numpy parses the header with Python's tokenizer: a garbled one fails in many ways.
            raise error(f"{path}: {key}: not a .npy array ({type(err).__name__}: {err})") from None
        offset = member.tell()
    if dtype.hasobject:
        raise error(f"{path}: {key} is an array of Python objects ({dtype}), not of numbers; such "
                    f"arrays are never loaded (that would mean unpickling them, which can run code)")
    size = math.prod(shape) * dtype.itemsize
    if offset + size != info.file_size:
        raise error(f"{path}: {key}: damaged: its header declares {shape} {dtype}, {size:,} bytes, "
                    f"but it holds {info.file_size - offset:,}")
    return shape, dtype.itemsize


def _npy_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


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
