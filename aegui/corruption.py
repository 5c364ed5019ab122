"""Noise in, essence out: seeded corruptions of what the network sees.

A narrow code cannot copy its input, so an autoencoder keeps what digits have in common
and drops what they do not: fed a corrupted digit, it tends to give back a clean one. The
app shows that with these corruptions of the 28x28 frame (pixels in [0, 1], ink 1):

* ``speckle``: salt and pepper; a share ``0.4 * strength`` of the pixels, chosen at
  random, each set to 0 or 1 with even odds;
* ``strokes``: ``ceil(2 * strength)`` stray pen strokes (quadratic curves 8 to 16 pixels
  long, anywhere in the frame) ``1.2 + 0.8 * strength`` pixels wide, painted by the app's own rasteriser
  (``aegui.raster``) and joined to the ink by maximum, as the canvas joins strokes;
* ``blur``: a Gaussian blur of standard deviation ``2 * strength`` pixels (zero outside
  the frame, so the black border stays black);
* ``occlusion``: a square of side ``round(12 * strength)`` pixels erased (set to 0) at a
  random place over the middle of the frame, where MNIST framing puts the digit.

``strength`` is in [0, 1]; 0 returns the frame unchanged. The same ``seed`` gives the
same corruption (the app keeps it fixed, so the noise does not flicker while one draws).
Frames come one (28, 28) or many (N, 28, 28); for many, ``strength`` may be one number or
one per frame (how a denoising model is trained: ``corrupt_mixed``). Plain numpy.
"""

from __future__ import annotations

import math

import numpy as np

from aegui.raster import Segment, paint_segments

__all__ = ["KINDS", "corrupt", "corrupt_mixed"]

KINDS = ("speckle", "strokes", "blur", "occlusion")
SPECKLE_SHARE = 0.4      # of the pixels, at full strength
MAX_STROKES = 2
STROKE_WIDTH = (1.2, 0.8)  # pixels: base + strength * extra
STROKE_LENGTH = (8.0, 16.0)  # pixels, end to end
_INSIDE = 2.0            # stroke points keep this far from the frame's edges
_MARGIN = 4              # rows between stacked frames while painting strokes
BLUR_SIGMA = 2.0         # pixels, at full strength
OCCLUSION_SIDE = 12      # pixels, at full strength
_CENTRE = (8, 20)        # the square's centre lies in this range of rows and columns
SIDE = 28


def corrupt(frames, kind: str, strength, seed: int = 0) -> np.ndarray:
    """``frames`` (28, 28) or (N, 28, 28) in [0, 1] corrupted by ``kind`` at ``strength``
    (a number in [0, 1], or one per frame), float32 of the same shape."""
    if kind not in KINDS:
        raise ValueError(f"corruption {kind!r}: expected one of {', '.join(KINDS)}")
    x = np.asarray(frames, np.float32)
    single = x.ndim == 2
    x = x.reshape(-1, SIDE, SIDE) if x.shape[-2:] == (SIDE, SIDE) and x.ndim in (2, 3) else None
    if x is None:
        raise ValueError(f"expected frames (28, 28) or (N, 28, 28), got shape {np.shape(frames)}")
    s = _strengths(strength, len(x))
    rng = np.random.default_rng(seed)
    out = _CORRUPTIONS[kind](x.copy(), s, rng)
    out = np.where(s[:, None, None] > 0, out, x)      # strength 0: exactly the frame
    return out[0] if single else out


def corrupt_mixed(frames, rng: np.random.Generator, max_strength: float = 1.0) -> np.ndarray:
    """Each frame (N, 28, 28) corrupted by a kind chosen at random, at a strength drawn
    uniformly from [0, ``max_strength``]: the inputs of a denoising model's training."""
    x = np.asarray(frames, np.float32)
    kinds = rng.integers(len(KINDS), size=len(x))
    strengths = rng.uniform(0.0, max_strength, size=len(x))
    out = x.copy()
    for i, kind in enumerate(KINDS):
        chosen = np.flatnonzero(kinds == i)
        if len(chosen):
            out[chosen] = corrupt(x[chosen], kind, strengths[chosen], seed=int(rng.integers(1 << 62)))
    return out


def _strengths(strength, n: int) -> np.ndarray:
    s = np.asarray(strength, np.float64)
    if s.ndim == 0:
        s = np.full(n, float(s))
    if s.shape != (n,):
        raise ValueError(f"strength: expected one number or {n}, got shape {s.shape}")
    if not (np.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()):
        raise ValueError(f"strength must lie in [0, 1], got {strength!r}")
    return s


def _speckle(x: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hit = rng.random(x.shape) < (SPECKLE_SHARE * s)[:, None, None]
    salt = (rng.random(x.shape) < 0.5).astype(np.float32)
    return np.where(hit, salt, x)


def _strokes(x: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # All frames' strokes are painted in one call, on frames stacked with a margin between
    # them (no stroke reaches it: curves stay in the hull of their points, which lie
    # inside the frame); one call per frame would cost ten times more.
    pitch = SIDE + _MARGIN
    segments = []
    for i in range(len(x)):
        width = STROKE_WIDTH[0] + STROKE_WIDTH[1] * s[i]
        for _ in range(math.ceil(MAX_STROKES * s[i])):
            points = _stroke_points(rng) + (0.0, i * pitch)
            segments.append(Segment("quad", tuple(map(tuple, points)), width, False))
    layer = np.zeros((len(x) * pitch, SIDE), np.uint8)
    paint_segments(layer, segments)
    ink = layer.reshape(len(x), pitch, SIDE)[:, :SIDE] / np.float32(255)
    return np.maximum(x, ink)


def _stroke_points(rng: np.random.Generator) -> np.ndarray:
    """A stray stroke's start, control and end points (x, y), inside the frame: a curve
    ``STROKE_LENGTH`` pixels long (end to end) in any direction, bent at random."""
    length = rng.uniform(*STROKE_LENGTH)
    angle = rng.uniform(0, 2 * math.pi)
    span = length * np.array([math.cos(angle), math.sin(angle)])
    lo, hi = _INSIDE + np.maximum(-span, 0), SIDE - _INSIDE - np.maximum(span, 0)
    start = rng.uniform(lo, hi)
    end = start + span
    control = (start + end) / 2 + rng.uniform(-0.35, 0.35) * length * np.array([-span[1], span[0]]) / length
    return np.stack([start, np.clip(control, _INSIDE, SIDE - _INSIDE), end])


def _blur(x: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    del rng  # deterministic
    m = np.stack([_blur_matrix(BLUR_SIGMA * float(v)) if v > 0 else np.eye(SIDE, dtype=np.float32) for v in s])
    return np.clip(m @ x @ m.transpose(0, 2, 1), 0.0, 1.0)


def _blur_matrix(sigma: float) -> np.ndarray:
    """(28, 28): row i is the Gaussian kernel centred on pixel i (normalised over the whole
    line, so ink that spreads past the border is lost rather than piled up at it)."""
    offsets = np.arange(SIDE)[None, :] - np.arange(SIDE)[:, None]
    reach = max(1, math.ceil(4 * sigma))
    whole = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2).sum()
    return (np.exp(-0.5 * (offsets / sigma) ** 2) / whole).astype(np.float32)


def _occlusion(x: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = np.rint(OCCLUSION_SIDE * s).astype(np.int64)
    centre = rng.uniform(_CENTRE[0], _CENTRE[1], size=(len(x), 2))
    start = np.floor(centre - side[:, None] / 2).astype(np.int64)
    grid = np.arange(SIDE)
    rows = (grid[None, :] >= start[:, :1]) & (grid[None, :] < start[:, :1] + side[:, None])
    cols = (grid[None, :] >= start[:, 1:]) & (grid[None, :] < start[:, 1:] + side[:, None])
    return np.where(rows[:, :, None] & cols[:, None, :], np.float32(0), x)


_CORRUPTIONS = {"speckle": _speckle, "strokes": _strokes, "blur": _blur, "occlusion": _occlusion}
