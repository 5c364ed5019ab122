"""The reference digits: 5,000 MNIST test images with their labels, shipped with aegui.

Every model, whatever it was trained on and wherever it comes from, encodes these same
digits to draw the latent map and to find a drawing's neighbours, so that the map always
shows the data set (a model fine-tuned on a dozen drawings still sees all ten digits).

The file, ``resources/reference/mnist-test-5000.npz`` (uint8, compressed, about 1 MB),
holds ``images`` (N, 28, 28), ``labels`` (N,) and ``indices`` (N,): the rows of MNIST's
test split, drawn at random with seed 0 and kept in test-set order. It is made from
``mnist.npz`` by

    python -m aegui.reference --data ../shared/data/mnist.npz

which writes the same bytes every time (resources/reference/README.md: attribution).
Plain numpy and the standard library.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aegui.atomic_files import write_bytes_atomic
from aegui.data import DataError, Digits
from aegui.resources import resources_dir

__all__ = ["REFERENCE_FILE", "REFERENCE_SEED", "REFERENCE_SIZE", "ReferenceDigits", "choose_rows",
           "from_digits", "load_reference", "write_reference"]

REFERENCE_SIZE = 5000
REFERENCE_SEED = 0
REFERENCE_FILE = resources_dir() / "reference" / "mnist-test-5000.npz"
_KEYS = ("images", "labels", "indices")


@dataclass(frozen=True, eq=False)
class ReferenceDigits:
    """``images`` (N, 28, 28) uint8, ink 255 on 0; ``labels`` (N,) uint8; ``indices`` (N,)
    int64, their rows in MNIST's test split; ``sha256`` names this set (of the three arrays)."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    sha256: str

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"ReferenceDigits({len(self)} digits, sha256 {self.sha256[:12]}...)"


def choose_rows(count: int, size: int = REFERENCE_SIZE, seed: int = REFERENCE_SEED) -> np.ndarray:
    """``size`` of ``count`` rows, drawn without replacement with ``seed``, in order."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=min(size, count), replace=False)).astype(np.int64)


def from_digits(data: Digits, size: int = REFERENCE_SIZE, seed: int = REFERENCE_SEED) -> ReferenceDigits:
    """The reference set drawn from a data set's test split."""
    rows = choose_rows(len(data.x_test), size, seed)
    return _make(np.ascontiguousarray(data.x_test[rows], np.uint8),
                 np.ascontiguousarray(data.y_test[rows], np.uint8), rows)


def write_reference(reference: ReferenceDigits, path: str | os.PathLike) -> Path:
    """Write ``reference`` as a compressed npz, atomically; the same set gives the same bytes
    (zip entries carry a fixed date)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for key in _KEYS:
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            array = io.BytesIO()
            np.save(array, getattr(reference, key), allow_pickle=False)
            archive.writestr(entry, array.getvalue())
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


@functools.cache
def load_reference(path: str | os.PathLike | None = None) -> ReferenceDigits:
    """The shipped reference digits (or those in ``path``), read once and checked."""
    path = Path(path) if path is not None else REFERENCE_FILE
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in _KEYS}
    except FileNotFoundError:
        raise DataError(f"{path}: the reference digits are missing (a broken install? "
                        f"`python -m aegui.reference --data mnist.npz` makes them)") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not a reference digits file ({type(err).__name__}: {err})") from None
    images, labels, indices = arrays["images"], arrays["labels"], arrays["indices"]
    n = len(labels)
    if (images.dtype != np.uint8 or images.shape != (n, 28, 28) or labels.dtype != np.uint8
            or labels.shape != (n,) or indices.shape != (n,) or n == 0 or labels.max() > 9):
        raise DataError(f"{path}: expected uint8 images (N, 28, 28), uint8 labels 0-9 (N,) and "
                        f"indices (N,); got {images.dtype} {images.shape}, {labels.dtype} "
                        f"{labels.shape}, {indices.shape}")
    return _make(images, labels, indices.astype(np.int64))


def _make(images, labels, indices) -> ReferenceDigits:
    digest = hashlib.sha256()
    for array in (images, labels, indices):
        digest.update(np.ascontiguousarray(array).tobytes())
    for array in (images, labels, indices):
        array.setflags(write=False)   # shared by every model loaded: nobody may change them
    return ReferenceDigits(images, labels, indices, digest.hexdigest())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aegui.reference",
                                     description="Make the shipped reference digits from MNIST.")
    parser.add_argument("--data", default=None, help="mnist.npz or MNIST IDX files (default $AEGUI_DATA)")
    parser.add_argument("--out", default=str(REFERENCE_FILE), help="default: %(default)s")
    parser.add_argument("--size", type=int, default=REFERENCE_SIZE)
    args = parser.parse_args(argv)
    from aegui.data import load_digits, resolve_data_path

    try:
        data = load_digits(resolve_data_path(args.data))
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    reference = from_digits(data, args.size)
    path = write_reference(reference, args.out)
    print(f"{path}: {len(reference)} digits of {data.source} (sha256 of the set {reference.sha256[:16]}...), "
          f"{path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
