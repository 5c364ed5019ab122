"""What each latent dimension encodes: traversals of the code, and the manifold grid.

* A *traversal* takes a code ``z`` (the drawing's) and, for each dimension ``d`` alone,
  sweeps ``z[d]`` over ``z[d] + t * scale[d]`` for ``t`` from ``-SPAN`` to ``+SPAN``, where
  ``scale[d]`` is that dimension's standard deviation over the model's reference codes
  (MNIST test digits): one row of decodings per dimension. The middle column (``t = 0``)
  is ``z`` itself, the drawing's reconstruction.
* Rows are *ranked* by how much the dimension changes the image: the mean absolute pixel
  difference between the row's decodings and the middle one, averaged over the row
  (``row_change``). Rank 0 is the dimension that matters most for this drawing.
* The *manifold grid* decodes a square grid of points of a plane of the latent space: the
  latent plane itself for a 2-D model, the plane of the reference codes' two principal
  components otherwise (given as a projection with ``inverse(xy) -> z``, as
  ``aegui.gui.latent.Projection``). Rows go from the top (+y) down, columns left to right.

Plain numpy: the model comes in as a ``decode`` function of codes ``(B, Z)`` to images
``(B, 28, 28)`` in [0, 1], so the arithmetic runs without torch and is tested alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["SPAN", "STEPS", "Traversal", "USUAL", "dimension_scales", "far_out", "manifold_codes", "manifold_extent",
           "rank", "ranked", "row_change", "sweep", "sweep_offsets", "traverse", "usual_range"]

SPAN = 2.0          # standard deviations each way
STEPS = 9           # decodings per row; odd, so that t = 0 is one of them

Decode = Callable[[np.ndarray], np.ndarray]


def dimension_scales(latent_dim: int, codes: np.ndarray | None = None) -> np.ndarray:
    """Per-dimension standard deviations of ``codes`` (N, Z); 1 where there are no codes
    (a VAE's prior has unit variance) or a dimension does not vary at all."""
    scales = np.ones(latent_dim, np.float32)
    if codes is not None and len(codes) >= 2:
        std = np.asarray(codes, np.float64).std(axis=0)
        good = np.isfinite(std) & (std > 1e-8)
        scales[good] = std[good]
    return scales


# The usual range of a dimension holds this share of the reference digits' values.
USUAL = 0.99


def usual_range(codes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high) per dimension: the range that holds ``USUAL`` of the reference codes
    (N, Z) in each dimension, from its 0.5th to its 99.5th percentile; None without codes.
    A value outside it is one the decoder has rarely seen: what it makes of it may be noise."""
    if codes is None or len(codes) < 10:
        return None
    tail = (1.0 - USUAL) / 2 * 100
    low, high = np.percentile(np.asarray(codes, np.float64), [tail, 100 - tail], axis=0)
    return low.astype(np.float32), high.astype(np.float32)


def far_out(z, usual: tuple[np.ndarray, np.ndarray] | None, dims=None) -> list[int]:
    """The dimensions of ``z`` (of ``dims`` only, if given) outside their usual range."""
    if usual is None:
        return []
    z = np.asarray(z, np.float32).reshape(-1)
    outside = (z < usual[0]) | (z > usual[1])
    if dims is not None:
        outside &= np.asarray(dims, bool)
    return [int(d) for d in np.flatnonzero(outside)]


def sweep_offsets(steps: int = STEPS, span: float = SPAN) -> np.ndarray:
    """The sweep's ``t`` values, in standard deviations: ``steps`` from -span to +span."""
    if steps < 3 or steps % 2 == 0:
        raise ValueError(f"a sweep needs an odd number of steps, at least 3 (t = 0 is the middle one), "
                         f"got {steps}")
    return np.linspace(-span, span, steps)


def sweep(z, scales, steps: int = STEPS, span: float = SPAN) -> np.ndarray:
    """Codes (Z, steps, Z): row ``d`` is ``z`` with ``z[d]`` swept over ``z[d] + t * scales[d]``."""
    z = np.asarray(z, np.float32).reshape(-1)
    scales = np.asarray(scales, np.float32).reshape(-1)
    if scales.shape != z.shape:
        raise ValueError(f"expected {z.size} scales, got {scales.size}")
    t = sweep_offsets(steps, span).astype(np.float32)
    codes = np.repeat(np.repeat(z[None, None, :], steps, axis=1), z.size, axis=0)
    dims = np.arange(z.size)
    codes[dims, :, dims] = z[:, None] + t[None, :] * scales[:, None]
    return codes


def row_change(images, centre=None) -> np.ndarray:
    """How much each row's decodings (R, S, H, W) differ from ``centre`` (H, W): the mean
    absolute pixel difference over the row. ``centre`` defaults to the middle column (in a
    sweep: the decoding of the code itself)."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected images (rows, steps, height, width), got shape {images.shape}")
    if centre is None:
        centre = images[:, images.shape[1] // 2]
    else:
        centre = np.broadcast_to(np.asarray(centre, np.float32), images[:, 0].shape)
    return np.abs(images - centre[:, None]).mean(axis=(1, 2, 3))


def rank(images, centre=None) -> tuple[np.ndarray, np.ndarray]:
    """(order, change): the rows by decreasing ``row_change`` (ties keep row order), and
    each row's change."""
    change = row_change(images, centre)
    order = np.argsort(-change, kind="stable")
    return order, change


@dataclass(frozen=True, eq=False)
class Traversal:
    """A ranked traversal: ``images[r]`` is the row of dimension ``order[r]``, swept over
    ``values[r]`` (the values that dimension took); ``change[r]`` is its row change."""

    offsets: np.ndarray      # (S,) t, in standard deviations
    order: np.ndarray        # (Z,) dimensions by rank
    values: np.ndarray       # (Z, S) by rank
    images: np.ndarray       # (Z, S, 28, 28) by rank
    change: np.ndarray       # (Z,) by rank: non-increasing


def ranked(codes, images, span: float = SPAN) -> Traversal:
    """The ``Traversal`` of ``codes = sweep(z, scales, S, span)`` (Z, S, Z) and their
    decodings ``images`` (Z, S, 28, 28), rows put in rank order."""
    codes = np.asarray(codes, np.float32)
    images = np.asarray(images, np.float32)
    dims = np.arange(codes.shape[0])
    if codes.ndim != 3 or codes.shape[0] != codes.shape[2] or images.shape[:2] != codes.shape[:2]:
        raise ValueError(f"expected codes (Z, S, Z) and images (Z, S, H, W), got {codes.shape} and {images.shape}")
    order, change = rank(images)
    values = codes[dims, :, dims]
    return Traversal(offsets=sweep_offsets(codes.shape[1], span), order=order, values=values[order],
                     images=images[order], change=change[order])


def traverse(decode: Decode, z, scales, steps: int = STEPS, span: float = SPAN) -> Traversal:
    """Sweep every dimension of ``z``, decode all rows in one batch, rank them."""
    codes = sweep(z, scales, steps, span)
    flat = np.asarray(decode(codes.reshape(-1, codes.shape[-1])), np.float32)
    return ranked(codes, flat.reshape(*codes.shape[:2], *flat.shape[-2:]), span)


# ---------------------------------------------------------------------- manifold grid


def manifold_extent(reference_xy=None, reach: float = SPAN) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): ``reach`` standard deviations each way around the mean of the
    reference points on the plane (N, 2); +-``reach`` around 0 without them."""
    if reference_xy is None or len(reference_xy) < 2:
        return (-reach, reach, -reach, reach)
    xy = np.asarray(reference_xy, np.float64)
    mean, std = xy.mean(axis=0), xy.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    return (float(mean[0] - reach * std[0]), float(mean[0] + reach * std[0]),
            float(mean[1] - reach * std[1]), float(mean[1] + reach * std[1]))


def manifold_codes(projection, size: int, extent) -> tuple[np.ndarray, np.ndarray]:
    """(xy (size, size, 2), codes (size, size, Z)): a grid of plane points spanning
    ``extent`` = (x0, x1, y0, y1), top row at y1, and their codes ``projection.inverse(xy)``."""
    if size < 1:
        raise ValueError(f"grid size must be at least 1, got {size}")
    x0, x1, y0, y1 = (float(v) for v in extent)
    xs = np.linspace(x0, x1, size) if size > 1 else np.array([(x0 + x1) / 2])
    ys = np.linspace(y1, y0, size) if size > 1 else np.array([(y0 + y1) / 2])
    xy = np.stack(np.meshgrid(xs, ys), axis=-1)
    codes = np.asarray(projection.inverse(xy.reshape(-1, 2)), np.float32)
    return xy, codes.reshape(size, size, -1)
