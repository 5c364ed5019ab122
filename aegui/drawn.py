"""The drawn-digits benchmark: real pen strokes replayed through the canvas's rasteriser,
read by the model the way the app reads a drawing (``aegui eval MODEL --drawn PATH``).

Each digit of the chosen writers (by default the validation writers, which nothing is
trained on; see ``aegui.pen_data``) is drawn once, at a size, place and pen width drawn
for it from the ranges people use (seeded per digit, so every model meets the same
drawings), on the canvas's 512-unit page by ``aegui.document.draw_strokes``; framed by
``mnist_style``; encoded and reconstructed in one pass; and judged by ``aegui.verdict``,
as the app does. Reported:

* ``accuracy``: the share of digits whose verdict names the right digit. "Not sure" and
  "not a digit" count as not right (they are not wrong either: ``wrong`` counts only a
  wrong digit named, ``unsure`` and ``rejected`` the other two);
* the same per digit, per pen-width band (``PEN_BANDS``, page units) and per size band
  (``SIZE_BANDS``, the digit's height as a fraction of the page);
* ``confusions``: the wrong answers as (true digit, digit named, count), most frequent first;
* ``sse``: the reconstruction's squared error summed over the frame's 784 pixels, mean per
  digit (as on MNIST);
* ``non_digits``: of seeded dots and scribbles drawn the same way, the share the verdict
  calls "not a digit", per kind.

``score`` does the counting, on plain arrays, so that the definitions can be checked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aegui.pen_data import PenDigits, Placement, draw_digit, placements
from aegui.preprocess import mnist_style
from aegui.scribbles import KINDS, non_digit
from aegui.verdict import Verdict, judge

__all__ = ["PEN_BANDS", "SIZE_BANDS", "DrawnSet", "describe", "drawn_benchmark", "frame_drawings",
           "non_digit_rejection", "render", "read_frames", "score"]

PEN_BANDS = ((6.0, 12.0), (12.0, 40.0), (40.0, 80.0))
SIZE_BANDS = ((0.15, 0.40), (0.40, 0.65), (0.65, 0.90))
BENCH_SEED = 0
NON_DIGITS = 200          # of each kind


@dataclass(frozen=True, eq=False)
class DrawnSet:
    """Framed drawings (N, 28, 28) float32 in [0, 1], their labels and how each was drawn."""

    frames: np.ndarray
    labels: np.ndarray
    pens: np.ndarray
    heights: np.ndarray


def frame_drawings(strokes_list, where: list[Placement]) -> np.ndarray:
    """Draw each digit's strokes with its placement on the canvas's page and frame it."""
    frames = np.zeros((len(where), 28, 28), np.float32)
    for i, (strokes, placement) in enumerate(zip(strokes_list, where)):
        frames[i] = mnist_style(draw_digit(strokes, placement))
    return frames


def render(pen: PenDigits, seed: int = BENCH_SEED) -> DrawnSet:
    """Every digit of ``pen`` drawn once, placed as ``placements(pen.index, seed)`` says."""
    where = placements(pen.index, seed)
    frames = frame_drawings((pen.strokes(j) for j in range(len(pen))), where)
    return DrawnSet(frames, np.asarray(pen.labels, np.int64), np.array([p.pen for p in where]),
                    np.array([p.height for p in where]))


def read_frames(model, frames: np.ndarray, batch: int = 500) -> tuple[list[Verdict], np.ndarray]:
    """The verdict on each frame and its reconstruction's squared error (summed over
    pixels; NaN for an empty frame), as the app computes them."""
    import torch

    codes, sse = [], []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(frames), batch):
            x = torch.from_numpy(np.ascontiguousarray(frames[start:start + batch])).reshape(-1, 1, 28, 28)
            z, recon = model.reconstruct(x.to(device))
            codes.append(z.float().cpu().numpy())
            sse.append(((recon.double().cpu() - x.double()) ** 2).flatten(1).sum(1).numpy())
    codes_all = np.concatenate(codes) if codes else np.zeros((0, model.latent_dim), np.float32)
    sse_all = np.concatenate(sse) if sse else np.zeros(0)
    empty = ~frames.reshape(len(frames), -1).any(1)
    sse_all[empty] = np.nan
    reference = getattr(model, "reference", None)
    verdicts = judge(codes_all, empty, getattr(model, "verdict_head", None),
                     reference.codes if reference is not None else None,
                     reference.labels if reference is not None else None, sse=sse_all)
    return verdicts, sse_all


def _share(mask: np.ndarray, right: np.ndarray) -> float | None:
    count = int(mask.sum())
    return float(right[mask].sum()) / count if count else None


def _band_key(lo: float, hi: float, percent: bool) -> str:
    return f"{lo:.0%}-{hi:.0%}" if percent else f"{lo:g}-{hi:g}"


def score(labels, verdicts: list[Verdict], pens, heights, sse) -> dict:
    """The benchmark's figures from the true ``labels``, the ``verdicts`` and how each digit
    was drawn (``pens``: pen width; ``heights``: fraction of the page). A band includes
    its lower end and, for the last band, its upper end; per-band and per-digit figures
    are None where the band holds no digit."""
    labels = np.asarray(labels, np.int64)
    pens, heights = np.asarray(pens, np.float64), np.asarray(heights, np.float64)
    said = np.array([-1 if v.answer is None else v.answer for v in verdicts], np.int64)
    right = said == labels
    kinds = np.array([v.kind for v in verdicts])
    wrong = (kinds == "digit") & ~right
    pairs: dict[tuple[int, int], int] = {}
    for t, s in zip(labels[wrong], said[wrong]):
        pairs[(int(t), int(s))] = pairs.get((int(t), int(s)), 0) + 1
    confusions = sorted(([t, s, c] for (t, s), c in pairs.items()), key=lambda r: (-r[2], r[0], r[1]))

    def bands(values, edges, percent):
        out = {}
        for i, (lo, hi) in enumerate(edges):
            top = values <= hi if i == len(edges) - 1 else values < hi
            out[_band_key(lo, hi, percent)] = _share((values >= lo) & top, right)
        return out

    sse = np.asarray(sse, np.float64)
    return {
        "digits": int(len(labels)),
        "accuracy": _share(np.ones(len(labels), bool), right),
        "wrong": _share(np.ones(len(labels), bool), wrong),
        "unsure": _share(np.ones(len(labels), bool), kinds == "unsure"),
        "rejected": _share(np.ones(len(labels), bool), kinds == "none"),
        "per_digit": {str(d): _share(labels == d, right) for d in range(10)},
        "per_pen": bands(pens, PEN_BANDS, False),
        "per_size": bands(heights, SIZE_BANDS, True),
        "confusions": confusions,
        "sse": float(np.nanmean(sse)) if np.isfinite(sse).any() else None,
    }


def non_digit_rejection(model, count: int = NON_DIGITS, seed: int = BENCH_SEED) -> dict:
    """Of ``count`` dots and ``count`` scribbles, the share the verdict calls not a digit."""
    out = {}
    for kind in KINDS:
        made = [non_digit(kind, i, seed) for i in range(count)]
        frames = frame_drawings((s for s, _ in made), [p for _, p in made])
        verdicts, _ = read_frames(model, frames)
        out[kind] = sum(v.kind == "none" for v in verdicts) / max(count, 1)
    return out


def drawn_benchmark(model, pen: PenDigits, seed: int = BENCH_SEED, non_digits: int = NON_DIGITS) -> dict:
    """All of the benchmark's figures for ``model`` on the digits of ``pen``."""
    drawn = render(pen, seed)
    verdicts, sse = read_frames(model, drawn.frames)
    result = score(drawn.labels, verdicts, drawn.pens, drawn.heights, sse)
    result["writers"] = sorted(int(w) for w in np.unique(pen.writers))
    result["seed"] = int(seed)
    result["pen_data_sha256"] = pen.sha256
    result["non_digits"] = non_digit_rejection(model, non_digits, seed) if non_digits else {}
    return result


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def describe(result: dict) -> str:
    """The benchmark's figures as text, for ``aegui eval``."""
    writers = result.get("writers") or []
    span = f"{writers[0]}-{writers[-1]}" if writers and writers == list(range(writers[0], writers[-1] + 1)) \
        else ",".join(map(str, writers))
    lines = [f"drawn digits: {result['digits']} by writers {span} (seed {result.get('seed', 0)})",
             f"  verdict right {_pct(result['accuracy'])}, wrong digit {_pct(result['wrong'])}, "
             f"not sure {_pct(result['unsure'])}, called not a digit {_pct(result['rejected'])}",
             "  per digit   " + "  ".join(f"{d}: {_pct(v)}" for d, v in result["per_digit"].items()),
             "  pen width   " + "  ".join(f"{b}: {_pct(v)}" for b, v in result["per_pen"].items()),
             "  height      " + "  ".join(f"{b}: {_pct(v)}" for b, v in result["per_size"].items()),
             "  confusions  " + (", ".join(f"{t} read as {s_} x{c}" for t, s_, c in result["confusions"][:8])
                                 or "none"),
             f"  reconstruction SSE per image {result['sse']:.3f}" if result.get("sse") is not None else
             "  reconstruction SSE per image -"]
    if result.get("non_digits"):
        lines.append("  not a digit " + "  ".join(f"{kind}s: {_pct(v)}" for kind, v in result["non_digits"].items()))
    return "\n".join(lines)

