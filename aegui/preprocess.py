"""MNIST-style framing of a drawn digit: any 2-D grey image in, a 28x28 frame out.

This module holds the preprocessing that turns whatever the user drew (a
600x400 canvas, a 16x16 USPS scan, an MNIST digit itself) into the input the
autoencoder was trained on, made the way MNIST itself was made (LeCun et al.):

1. crop to the bounding box of the ink, ignoring faint noise;
2. scale the box to fit 20x20, keeping its aspect ratio, with an anti-aliasing
   area-overlap resampler (exact pixel-overlap weights, separable);
3. put it in a 28x28 frame with its intensity-weighted centre of mass within
   half a pixel of MNIST's, (14, 14), by a whole-pixel shift.

Pure numpy: no Qt, torch, scipy or PIL, so it runs anywhere and fast enough to
call on every mouse move (a 512x512 canvas frames in well under a millisecond).
An image of any size frames in bounded memory: it is read in tiles of a million pixels,
never copied whole (a 20000x20000 scan costs a few MB besides itself). ``mnist_style``
is the definition and frames every data set; the app frames the user's page with
``frame_page``, its C++ twin once the op's library is loaded (the same steps, one call).

Design decisions, and why:

* Ink vs noise: a pixel counts as ink for the bounding box when it is at least
  ``INK_FRACTION`` (2 %) of the brightest pixel.  MNIST's own anti-aliased
  edges go down to 1/255, and 5 % would already drop a faint edge row in 6.6 %
  of MNIST test digits (and change their scale by ~5 %); 2 % changes 1.8 % of
  them.  A canvas whose brightest pixel is below ``EMPTY_PEAK`` (0.05, about
  13/255) holds no ink at all and frames to zeros.  Faint pixels inside the
  box are kept: only the box is decided by the threshold.
* Size: the longer side of the ink always becomes 20 px, however small the
  drawing, as in MNIST; a single dot fills the whole 20x20 box.
* Resampling: each output pixel is the mean of the (piecewise constant)
  input over the output pixel's area.  Shrinking, that is the exact box
  filter; enlarging (e.g. USPS 16 -> 20) it is pixel mixing.  The bounding
  box starts on the output pixel grid, so a digit enlarged k-fold by pixel
  repetition comes back exactly.
* Placement: whole-pixel shift (rounded), not sub-pixel.  On MNIST the
  per-digit centre of mass scatters around the mean with a standard
  deviation of 0.289 px on both axes, which is 1/sqrt(12): the uniform
  rounding error of integer shifts.  Rounding also keeps edges crisp.
* Placement target: MNIST's mean centre of mass is ``MNIST_CENTRE_OF_MASS``,
  (13.996, 14.007); but 99.9 % of MNIST's per-digit centroids lie in
  [13.5, 14.5] on both axes, i.e. MNIST rounded its shifts towards exactly
  14.0, of which the mean is a slightly noisy estimate.  Rounding towards the
  mean instead would move 1.1 % of MNIST's training digits (1.3 % of its test
  digits) one pixel away from where MNIST put them; rounding towards
  ``PLACEMENT_CENTRE`` = (14, 14) moves 0.13 % (0.01 %).  The frame's centroid
  therefore lies within half a pixel of (14, 14), and within 0.51 px of the
  measured mean.
* The shift is clamped so that the 20x20 box never leaves the frame: ink is
  never cut off, at the price of an off-target centre of mass for very
  lopsided shapes (a centroid within 5.5 px of the box's edge).
* Contrast: the framed digit is divided by its maximum so its peak is 1.0.
  All 60000 MNIST training digits peak at 255 and the 10000 test digits at
  254 or 255; a thin pen stroke averaged down by a large shrink would
  otherwise come out grey, and grey ink would stay grey.  Nothing else is done
  to the contrast (no gamma, no thickening), so a stroke that is very thin
  relative to the drawing stays thin.
* Stroke width is not normalised, by measurement.  A thin pen on a large
  drawing does arrive far thinner than MNIST's strokes: framed, the real pen
  digits of the validation writers (``aegui.drawn``) drawn with a pen under
  4 % of their height carry a median ink of 33 (sum over the frame, in
  [0, 1]), against 101 for MNIST's test digits, whose 5th percentile is 52;
  and a model trained on MNIST alone read those thin drawings worst (pens of
  6-12 px: 75 % right, 12-40 px: 80 %).  But trained on drawings made with
  every pen width (``aegui.pen_data``), the same model reads the thin ones as
  well as the rest (short runs of ``ae-16``: 96.6 % right for 6-12 px pens,
  97.3 % for all; the zoo's figures are in its model cards).  Thickening here
  would need a width estimate per mouse move (ink alone cannot tell: MNIST's
  own 1s carry a median of 58, near all digits' 5th percentile), for a gap
  the training data already closes.
* Input scale: uint8 and other integer dtypes are read as 0..255, bool as
  0/1, floats as 0..1; everything is clipped to [0, 1].  Ink is brighter than
  the background.
"""

from __future__ import annotations

import math

import numpy as np

from . import native

__all__ = [
    "BOX",
    "EMPTY_PEAK",
    "FRAME",
    "INK_FRACTION",
    "MNIST_CENTRE_OF_MASS",
    "PLACEMENT_CENTRE",
    "frame_page",
    "mnist_style",
    "to_uint8",
]

FRAME = 28
BOX = 20

# Mean over the 60000 MNIST training images (shared/data/mnist.npz, x_train,
# scaled to [0, 1]) of each image's intensity-weighted centroid (row, col), in
# pixel-index coordinates (the centre of pixel i is at i, so the geometric
# centre of the frame is 13.5).  Per-image std is 0.289 px on both axes; the
# 10000 test images give (13.9931, 14.0078).  tests/test_preprocess.py
# re-measures these when the data is present.
MNIST_CENTRE_OF_MASS = (13.9959, 14.0069)

# Where the whole-pixel shift aims: the centre of the band [13.5, 14.5] that
# 99.9 % of MNIST's per-digit centroids fall in (see the module docstring).
PLACEMENT_CENTRE = (14.0, 14.0)

# Ink for the bounding box: at least this fraction of the brightest pixel.
INK_FRACTION = 0.02
# No ink at all when the brightest pixel (on the 0..1 scale) is below this.
EMPTY_PEAK = 0.05
# Pixels per tile: a canvas up to 1024x1024 is one tile, so the result does not depend on
# tiling there; larger images are read a tile at a time.
_TILE = 1 << 20


def mnist_style(image) -> np.ndarray:
    """Frame a drawn digit the way MNIST was framed.

    ``image`` is a 2-D array of any size, ink brighter than background:
    uint8 (0..255) or float (0..1, clipped).  Returns a (28, 28) float32
    array in [0, 1] whose ink fits a 20x20 box, with the longer side 20 px,
    centre of mass within half a pixel of ``PLACEMENT_CENTRE`` (14, 14) and
    peak 1.0; all zeros when there is no ink.  Raises ValueError for input
    that is not a non-empty 2-D numeric array of finite values.
    """
    raw, scale = _validated(image)
    peak = min(float(raw.max()) / scale, 1.0)
    if peak < EMPTY_PEAK:
        return np.zeros((FRAME, FRAME), np.float32)
    rows, cols = _ink_bounding_box(raw, INK_FRACTION * peak * scale)
    digit = _fit_box(raw[rows, cols], scale)
    digit /= digit.max()
    return _place_by_centre_of_mass(digit)


def frame_page(page) -> np.ndarray:
    """``mnist_style`` of the app's page, by its C++ twin (``frame_digit``) when the op's
    library is loaded (``aegui.native``) and ``page`` is a 2-D uint8 array; else by
    ``mnist_style`` itself. The twin takes the same steps in the same precision but sums
    the resampling's products in another order: its frames differ from these by a few
    float32 roundings (under 1e-6; as 8-bit grey levels, one pixel one level apart in
    0.7% of the frames of drawn sample digits), with the same whole-pixel placement. Why the app
    uses it: one call instead of a dozen numpy calls, each of which lets the UI thread's
    Python in and waits for it back (``csrc/cpu/framing_cpu.cpp``)."""
    twin = native.kernel("frame_digit")
    if (twin is None or not isinstance(page, np.ndarray) or page.dtype != np.uint8 or page.ndim != 2
            or not page.size):
        return mnist_style(page)
    frame = np.empty((FRAME, FRAME), np.float32)
    twin(np.ascontiguousarray(page), frame)
    return frame


def to_uint8(frame) -> np.ndarray:
    """Quantise a [0, 1] frame to uint8 (round(x * 255)), clipping first."""
    # In place on one float64 copy, with the ufuncs themselves: the app does this twice per
    # drawing on the UI thread, and np.clip's Python wrappers cost more than the arithmetic.
    values = np.array(frame, dtype=np.float64)
    np.maximum(values, 0.0, out=values)
    np.minimum(values, 1.0, out=values)
    values *= 255.0
    return np.rint(values, out=values).astype(np.uint8)


def _validated(image) -> tuple[np.ndarray, float]:
    """The image as an array, plus the raw value that means full ink."""
    try:
        raw = np.asarray(image)
    except (ValueError, TypeError) as err:
        raise ValueError(f"image is not a rectangular array: {err}") from None
    if raw.dtype == bool:
        scale = 1.0
    elif np.issubdtype(raw.dtype, np.integer):
        scale = 255.0
    elif np.issubdtype(raw.dtype, np.floating):
        scale = 1.0
    else:
        raise ValueError(
            f"image must be numeric (uint8 0..255 or float 0..1), got dtype {raw.dtype}"
        )
    if raw.ndim != 2:
        raise ValueError(f"image must be 2-D (rows, cols), got {raw.ndim}-D shape {raw.shape}")
    if raw.size == 0:
        raise ValueError(f"image is empty: shape {raw.shape}")
    if raw.dtype == bool:
        raw = raw.view(np.uint8)
    elif scale == 1.0:
        # NaN and +/-inf propagate to max/min, so two reductions check every pixel.
        if not (np.isfinite(raw.max()) and np.isfinite(raw.min())):
            raise ValueError("image contains NaN or infinite values")
    return raw, scale


def _tiles(shape: tuple[int, int]):
    """Row and column slices covering an image in tiles of about _TILE pixels."""
    height, width = shape
    col_step = min(width, _TILE)
    row_step = max(1, _TILE // col_step)
    for top in range(0, height, row_step):
        for left in range(0, width, col_step):
            yield slice(top, top + row_step), slice(left, left + col_step)


def _ink_bounding_box(raw: np.ndarray, threshold: float) -> tuple[slice, slice]:
    """Row and column slices of the smallest box holding every pixel >= threshold."""
    if np.issubdtype(raw.dtype, np.integer):
        # An integer threshold keeps the comparison in the image's own dtype;
        # comparing uint8 with a Python float would copy the canvas to float64.
        threshold = raw.dtype.type(min(math.ceil(threshold), np.iinfo(raw.dtype).max))
    any_row = np.zeros(raw.shape[0], bool)
    any_col = np.zeros(raw.shape[1], bool)
    for rows, cols in _tiles(raw.shape):
        mask = raw[rows, cols] >= threshold
        any_row[rows] |= mask.any(axis=1)
        any_col[cols] |= mask.any(axis=0)
    ink_rows = np.flatnonzero(any_row)
    ink_cols = np.flatnonzero(any_col)
    return (slice(ink_rows[0], ink_rows[-1] + 1), slice(ink_cols[0], ink_cols[-1] + 1))


def _fit_box(crop: np.ndarray, scale: float) -> np.ndarray:
    """Resample the cropped ink (raw values, ``scale`` meaning full ink) so its longer side
    is exactly BOX pixels: ``down @ crop @ across.T``, with ``down @ crop`` summed tile
    by tile so that no float copy of a large crop is ever made."""
    height, width = crop.shape
    longer = max(height, width)
    down = _overlap_matrix(height, BOX * height / longer)
    across = _overlap_matrix(width, BOX * width / longer)
    shrunk = np.zeros((down.shape[0], width), np.float32)
    for rows, cols in _tiles(crop.shape):
        tile = crop[rows, cols].astype(np.float32)
        tile *= np.float32(1.0 / scale)
        np.clip(tile, 0.0, 1.0, out=tile)
        shrunk[:, cols] += down[:, rows] @ tile
    return shrunk @ across.T


def _overlap_matrix(n_in: int, length: float) -> np.ndarray:
    """Area-overlap weights taking n_in unit pixels onto [0, length) of the output.

    Entry (j, i) is how much of output pixel j (the interval [j, j+1)) input
    pixel i covers once stretched or squeezed onto [0, length).  Each output
    pixel is then the mean of the input over its area: the exact box filter
    when shrinking, pixel mixing when enlarging.
    """
    n_out = max(1, math.ceil(length - 1e-6))
    edges = np.arange(n_in + 1) * (length / n_in)
    start = np.arange(n_out)[:, None]
    covered = np.clip(edges[None, :], start, start + 1)
    return np.diff(covered, axis=1).astype(np.float32)


def _place_by_centre_of_mass(digit: np.ndarray) -> np.ndarray:
    """Put the digit in the frame, its centroid on MNIST's, by a whole-pixel shift."""
    height, width = digit.shape
    # In float64: the shift rounds at half pixels, where a float32 centroid's last bits
    # (which depend on how the resampling's sums were ordered, e.g. by BLAS threads)
    # could tip it to the wrong side.
    weights = digit.astype(np.float64)
    total = float(weights.sum())
    centroid_row = float(weights.sum(axis=1) @ np.arange(height)) / total
    centroid_col = float(weights.sum(axis=0) @ np.arange(width)) / total
    top = _shift(PLACEMENT_CENTRE[0] - centroid_row, FRAME - height)
    left = _shift(PLACEMENT_CENTRE[1] - centroid_col, FRAME - width)
    frame = np.zeros((FRAME, FRAME), np.float32)
    frame[top : top + height, left : left + width] = digit
    return frame


def _shift(wanted: float, most: int) -> int:
    """Round half up (not numpy's half-to-even), kept where the box stays in frame."""
    return min(max(math.floor(wanted + 0.5), 0), most)
