"""Principal component analysis of MNIST: the linear baseline an autoencoder is measured against.

PCA with ``k`` components is the best *linear* code of size ``k``: of all ways to map a
digit to ``k`` numbers and back by matrices, it makes the least squared error on the data
it was fitted on. An autoencoder with a ``k``-dimensional code does better only because
its encoder and decoder bend (Hinton & Salakhutdinov, Science 2006: test SSE 13.87 for
PCA with 30 components, 3.00 for their deep autoencoder). The app shows both side by side.

One fit is shipped, ``resources/models/pca-mnist.npz`` (about 100 kB), with as many
components as the largest code of the shipped models; a fit with fewer components is the
prefix of a fit with more (the components come in order of decreasing variance), so it
serves every code size up to that. It is made from the training split of ``mnist.npz`` by

    python -m aegui.pca --data ../shared/data/mnist.npz --out resources/models/pca-mnist.npz

Decisions, and why:

* Pixels in [0, 1], as the models see them; the reconstruction is clipped to [0, 1] like
  any image the app shows. Clipping can only bring a pixel nearer its true value (which
  lies in [0, 1]), so it lowers PCA's error a little; ``aegui eval --pca`` reports both.
* The covariance is summed in float64 over chunks (the 60,000 x 784 training set as
  float64 would take 376 MB), and each component's sign is fixed (its largest entry
  positive), so that fits made on different machines agree up to rounding.
* The file is an npz read without pickles, every array's declared size checked before it
  is read (``aegui.data.read_npz``), then checked for what a fit must be: shapes that
  agree, finite numbers, orthonormal components, variances that do not increase.

Plain numpy, no Qt and no torch.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aegui.atomic_files import write_bytes_atomic
from aegui.data import load_digits, read_npz, resolve_data_path
from aegui.errors import InputError
from aegui.resources import resources_dir

__all__ = ["PCA", "PCAError", "PCA_FILE", "fit", "load", "reconstruction", "save", "sse"]

PIXELS = 28 * 28
# As many as the largest code of the shipped models (ae-30).
COMPONENTS = 30
_KEYS = ("mean", "components", "variance", "total_variance", "train_images", "data_sha256")
_MAX_BYTES = 16 << 20          # a fit of all 784 components is 2.5 MB
_ORTHONORMAL_TOLERANCE = 1e-3  # float32 components: |C C^T - I| is about 1e-6


# Beside the shipped models (aegui.models.zoo.MODELS_DIR; aegui.models is not imported
# here because it imports torch).
PCA_FILE = resources_dir() / "models" / "pca-mnist.npz"


class PCAError(InputError):
    """A PCA file could not be read or does not hold a fit; the message names the file."""


@dataclass(frozen=True, eq=False)
class PCA:
    """A fit: ``components`` (K, 784) orthonormal rows by decreasing ``variance`` (K,)
    around ``mean`` (784,), pixels in [0, 1]; ``total_variance`` is the data's over all
    784 directions, so ``variance[:k].sum() / total_variance`` is what k components keep."""

    mean: np.ndarray
    components: np.ndarray
    variance: np.ndarray
    total_variance: float
    train_images: int
    data_sha256: str

    @property
    def max_components(self) -> int:
        return len(self.components)

    def _basis(self, k: int) -> np.ndarray:
        if not 1 <= k <= self.max_components:
            raise ValueError(f"PCA with {k} components: this fit has 1 to {self.max_components}")
        return self.components[:k]

    def encode(self, frames, k: int) -> np.ndarray:
        """Codes (N, k) of frames (N, 28, 28) or (28, 28) in [0, 1]."""
        x = np.asarray(frames, np.float32).reshape(-1, PIXELS)
        return (x - self.mean) @ self._basis(k).T

    def decode(self, codes, *, clip: bool = True) -> np.ndarray:
        """Images (N, 28, 28) of codes (N, k): clipped to [0, 1] unless ``clip`` is False."""
        codes = np.asarray(codes, np.float32)
        images = codes @ self._basis(codes.shape[-1]) + self.mean
        return (np.clip(images, 0.0, 1.0) if clip else images).reshape(-1, 28, 28)

    def reconstruct(self, frames, k: int, *, clip: bool = True) -> np.ndarray:
        """What PCA with ``k`` components makes of frames (N, 28, 28) or (28, 28): (N, 28, 28)."""
        return self.decode(self.encode(frames, k), clip=clip)

    def kept(self, k: int) -> float:
        """The share of the data's variance that ``k`` components keep."""
        return float(self.variance[:k].sum() / self.total_variance)


def sse(frames, images) -> np.ndarray:
    """Squared error summed over each image's pixels, one value per image: (N,) float64
    (``aegui.evaluate.sse_per_image`` is their mean, on tensors). Also the distance of a
    corrupted frame, or of a reconstruction, to the clean one (``aegui.paradigm``)."""
    a = np.asarray(frames, np.float64).reshape(-1, PIXELS)
    b = np.asarray(images, np.float64).reshape(-1, PIXELS)
    return ((a - b) ** 2).sum(axis=1)


def reconstruction(frame, k: int, pca: PCA | None = None) -> tuple[np.ndarray, float]:
    """(PCA's reconstruction (28, 28) of one frame in [0, 1], its squared error summed over
    the pixels), with the shipped fit unless ``pca`` is given."""
    pca = pca if pca is not None else load()
    image = pca.reconstruct(frame, k)[0]
    return image, float(sse(frame, image)[0])


def fit(images, components: int = COMPONENTS, *, data_sha256: str = "", chunk: int = 10_000) -> PCA:
    """Fit PCA to uint8 images (N, 28, 28) (ink 255), keeping ``components``."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) < 2:
        raise ValueError(f"PCA needs at least two 28x28 images, got shape {images.shape}")
    if not 1 <= components <= PIXELS:
        raise ValueError(f"components: {components}; expected 1 to {PIXELS}")
    n = len(images)
    total = np.zeros(PIXELS)
    for start in range(0, n, chunk):
        total += _as_float(images[start:start + chunk]).sum(axis=0)
    mean = total / n
    scatter = np.zeros((PIXELS, PIXELS))
    for start in range(0, n, chunk):
        x = _as_float(images[start:start + chunk]) - mean
        scatter += x.T @ x
    covariance = scatter / n
    values, vectors = np.linalg.eigh(covariance)        # ascending
    order = np.argsort(values)[::-1][:components]
    basis = vectors[:, order].T
    signs = np.sign(basis[np.arange(components), np.abs(basis).argmax(axis=1)])
    basis *= signs[:, None]
    return PCA(mean=mean.astype(np.float32), components=basis.astype(np.float32),
               variance=np.maximum(values[order], 0.0), total_variance=float(np.trace(covariance)),
               train_images=n, data_sha256=data_sha256)


def _as_float(images) -> np.ndarray:
    return np.asarray(images, np.float64).reshape(len(images), PIXELS) / 255.0


def save(pca: PCA, path: str | os.PathLike) -> Path:
    """Write ``pca`` as an npz, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, mean=pca.mean, components=pca.components, variance=np.asarray(pca.variance, np.float64),
             total_variance=np.float64(pca.total_variance), train_images=np.int64(pca.train_images),
             data_sha256=np.str_(pca.data_sha256))
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


_cache: dict[tuple, PCA] = {}


def load(path: str | os.PathLike | None = None) -> PCA:
    """Read and check a PCA file (the shipped one by default); a file is read once per
    process while it is unchanged."""
    path = Path(path) if path is not None else PCA_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise PCAError(f"{path}: no such PCA file (`python -m aegui.pca --data mnist.npz` makes it)") from None
    except OSError as err:
        raise PCAError(f"{path}: cannot read: {err.strerror or err}") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        if len(_cache) >= 4:
            _cache.clear()
        arrays = read_npz(path, _KEYS, expected=f"a PCA fit (an npz with {', '.join(_KEYS)})",
                          max_bytes=_MAX_BYTES, error=PCAError)
        _cache[key] = _checked(arrays, path)
    return _cache[key]


def _checked(a: dict[str, np.ndarray], path: Path) -> PCA:
    def bad(what: str):
        raise PCAError(f"{path}: not a usable PCA fit: {what}")

    mean, comps, var = a["mean"], a["components"], a["variance"]
    if mean.shape != (PIXELS,) or mean.dtype != np.float32:
        bad(f"mean is {mean.dtype} {mean.shape}, expected float32 ({PIXELS},)")
    if comps.ndim != 2 or comps.shape[1] != PIXELS or not 1 <= len(comps) <= PIXELS or comps.dtype != np.float32:
        bad(f"components are {comps.dtype} {comps.shape}, expected float32 (K, {PIXELS}) with 1 <= K <= {PIXELS}")
    if var.shape != (len(comps),) or not np.issubdtype(var.dtype, np.floating):
        bad(f"variance is {var.dtype} {var.shape}, expected one number per component")
    scalars = {k: a[k] for k in ("total_variance", "train_images", "data_sha256")}
    if any(v.shape != () for v in scalars.values()) or scalars["data_sha256"].dtype.kind != "U" \
            or scalars["train_images"].dtype.kind not in "iu":
        bad("total_variance, train_images and data_sha256 must be a number, an integer and a text")
    total = float(scalars["total_variance"])
    if not (np.isfinite(mean).all() and np.isfinite(comps).all() and np.isfinite(var).all() and np.isfinite(total)):
        bad("it holds NaN or infinite values")
    if (var < 0).any() or (np.diff(var) > 1e-9 * max(total, 1.0)).any() or not var.sum() <= total * (1 + 1e-6):
        bad("the variances are not non-negative, non-increasing and within the total")
    gram = comps.astype(np.float64) @ comps.T.astype(np.float64)
    if np.abs(gram - np.eye(len(comps))).max() > _ORTHONORMAL_TOLERANCE:
        bad("the components are not orthonormal")
    return PCA(mean=mean, components=comps, variance=var.astype(np.float64), total_variance=total,
               train_images=int(scalars["train_images"]), data_sha256=str(scalars["data_sha256"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aegui.pca",
                                     description="Fit PCA on the training split of MNIST and write it as npz.")
    parser.add_argument("--data", default=None, help="mnist.npz or MNIST IDX files (default $AEGUI_DATA)")
    parser.add_argument("--components", type=int, default=COMPONENTS)
    parser.add_argument("--out", default=str(PCA_FILE))
    args = parser.parse_args(argv)
    try:
        data = load_digits(resolve_data_path(args.data))
        pca = fit(data.x_train, args.components, data_sha256=data.sha256)
        save(pca, args.out)
    except (InputError, OSError) as err:
        print(f"python -m aegui.pca: error: {err}", file=sys.stderr)
        return 2
    print(f"{args.out}: PCA with {pca.max_components} components of {pca.train_images} training images; "
          f"they keep {pca.kept(pca.max_components):.1%} of the variance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
