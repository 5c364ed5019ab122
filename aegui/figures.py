"""Figures for model cards, drawn with Pillow alone (no Qt, no plotting library).

Three kinds, each a function returning a ``PIL.Image``:

* ``line_chart``: curves over a shared x axis, with axes, ticks, axis labels, a title and
  a legend; the y axis may be logarithmic (a loss falls by orders of magnitude in the first
  epochs, then by percents: on a linear axis the late epochs would be a flat line);
* ``image_rows``: rows of 28x28 images in [0, 1] (ink white on black, as the network sees
  them), each row labelled, columns optionally labelled;
* ``matrix_chart``: a matrix of counts as shaded cells with their numbers (a confusion
  matrix), rows and columns labelled.

Ticks fall on 1, 2 and 5 times a power of ten. Colours are the Okabe-Ito palette, told
apart by people with any common colour blindness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["PALETTE", "image_rows", "line_chart", "matrix_chart", "nice_ticks"]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
BACKGROUND, INK, GRID, MUTED = "#FFFFFF", "#222222", "#E4E4E4", "#666666"
FONT_SIZE = 14


def _font(size: int = FONT_SIZE):
    try:
        return ImageFont.load_default(size)
    except TypeError:        # Pillow < 10.1: one small bitmap font
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return x1 - x0, y1 - y0


def nice_ticks(lo: float, hi: float, count: int = 5, log: bool = False) -> list[float]:
    """Tick values within [lo, hi]: multiples of 1, 2 or 5 times a power of ten, about
    ``count`` of them; on a log axis, 1, 2 and 5 times powers of ten (finer within a short
    range, powers of ten alone over many decades)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise ValueError(f"tick range [{lo}, {hi}]")
    if log:
        if lo <= 0:
            raise ValueError("a log axis needs a positive range")
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        within = lambda t: lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)  # noqa: E731
        # Within a decade or so, finer steps: 1, 2 and 5 alone would leave one or two ticks.
        steps = (1, 2, 5) if hi / lo > 20 else (1, 1.5, 2, 3, 4, 5, 6, 8)
        ticks = [m * 10.0 ** e for e in decades for m in steps if within(m * 10.0 ** e)]
        if len(ticks) > 2 * count:                       # many decades: their powers of ten only
            ticks = [10.0 ** e for e in decades if within(10.0 ** e)] or ticks[::2]
        return ticks
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"


def line_chart(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], *, title: str, xlabel: str,
               ylabel: str, log_y: bool = False, size: tuple[int, int] = (640, 400)) -> Image.Image:
    """``series``: (legend label, xs, ys) each, drawn in palette order."""
    if not series or any(len(xs) != len(ys) or len(xs) == 0 for _, xs, ys in series):
        raise ValueError("line_chart needs at least one series, each with as many xs as ys (at least one)")
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, small = _font(), _font(FONT_SIZE - 2)
    xs_all = np.concatenate([np.asarray(xs, float) for _, xs, _ in series])
    ys_all = np.concatenate([np.asarray(ys, float) for _, _, ys in series])
    if log_y and (ys_all <= 0).any():
        raise ValueError("a log y axis needs positive values")
    x_lo, x_hi = float(xs_all.min()), float(xs_all.max())
    x_hi = x_hi if x_hi > x_lo else x_lo + 1
    y_lo, y_hi = float(ys_all.min()), float(ys_all.max())
    if log_y:
        y_lo, y_hi = y_lo / 1.05, y_hi * 1.05
    else:
        pad = (y_hi - y_lo) * 0.05 or abs(y_hi) * 0.05 or 1.0
        y_lo, y_hi = y_lo - pad, y_hi + pad
    y_ticks = nice_ticks(y_lo, y_hi, log=log_y) or [y_lo, y_hi]
    left = 20 + max(_text_size(draw, _label(t), small)[0] for t in y_ticks) + 10
    box = (left + 10, 40, size[0] - 20, size[1] - 60)

    def to_px(x, y):
        fx = (x - x_lo) / (x_hi - x_lo)
        fy = (math.log(y) - math.log(y_lo)) / (math.log(y_hi) - math.log(y_lo)) if log_y else \
            (y - y_lo) / (y_hi - y_lo)
        return box[0] + fx * (box[2] - box[0]), box[3] - fy * (box[3] - box[1])

    for t in y_ticks:
        _, py = to_px(x_lo, t)
        draw.line([(box[0], py), (box[2], py)], fill=GRID)
        w, h = _text_size(draw, _label(t), small)
        draw.text((box[0] - 8 - w, py - h / 2 - 2), _label(t), fill=MUTED, font=small)
    for t in nice_ticks(x_lo, x_hi, count=8):
        px, _ = to_px(t, y_lo)
        draw.line([(px, box[3]), (px, box[3] + 5)], fill=INK)
        w, _h = _text_size(draw, _label(t), small)
        draw.text((px - w / 2, box[3] + 8), _label(t), fill=MUTED, font=small)
    draw.line([(box[0], box[1]), (box[0], box[3]), (box[2], box[3])], fill=INK, width=1)
    for colour, (_name, xs, ys) in zip(_cycle(), series):
        points = [to_px(float(x), float(y)) for x, y in zip(xs, ys)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2, joint="curve")
        for px, py in points if len(points) <= 30 else points[-1:]:
            draw.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=colour)
    _legend(draw, [name for name, _, _ in series], box, small)
    _titles(image, box, title, xlabel, ylabel + (" (log scale)" if log_y else ""), font)
    return image


def _cycle():
    while True:
        yield from PALETTE


def _legend(draw, names: list[str], box, font) -> None:
    widths = [_text_size(draw, n, font)[0] for n in names]
    x0, y0 = box[2] - max(widths) - 44, box[1] + 10
    draw.rectangle([x0 - 8, y0 - 6, box[2] - 8, y0 + 20 * len(names) - 2], fill=BACKGROUND, outline=GRID)
    for i, (colour, name) in enumerate(zip(_cycle(), names)):
        y = y0 + 20 * i + 7
        draw.line([(x0, y), (x0 + 22, y)], fill=colour, width=3)
        draw.text((x0 + 30, y - 8), name, fill=INK, font=font)


def _titles(image: Image.Image, box, title: str, xlabel: str, ylabel: str, font) -> None:
    draw, size = ImageDraw.Draw(image), image.size
    w, _ = _text_size(draw, title, font)
    draw.text(((size[0] - w) / 2, 10), title, fill=INK, font=font)
    w, _ = _text_size(draw, xlabel, font)
    draw.text(((box[0] + box[2] - w) / 2, size[1] - 28), xlabel, fill=INK, font=font)
    w, h = _text_size(draw, ylabel, font)
    label = Image.new("RGB", (w + 4, h + 8), BACKGROUND)
    ImageDraw.Draw(label).text((2, 0), ylabel, fill=INK, font=font)
    rotated = label.rotate(90, expand=True)
    image.paste(rotated, (4, int((box[1] + box[3] - rotated.size[1]) / 2)))


def image_rows(rows: Sequence[tuple[str, np.ndarray]], *, title: str = "", column_labels: Sequence[str] = (),
               scale: int = 3, gap: int = 4) -> Image.Image:
    """Rows of images (each (N, 28, 28) in [0, 1]) with a label before each row."""
    if not rows:
        raise ValueError("image_rows needs at least one row")
    font, small = _font(), _font(FONT_SIZE - 2)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(_text_size(probe, label, font)[0] for label, _ in rows) + 16
    cell = 28 * scale + gap
    columns = max(len(images) for _, images in rows)
    top = (32 if title else 8) + (22 if column_labels else 0)
    image = Image.new("RGB", (label_w + columns * cell + gap, top + len(rows) * cell + gap), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((8, 8), title, fill=INK, font=font)
    for c, text in enumerate(column_labels):
        w, _ = _text_size(draw, text, small)
        draw.text((label_w + c * cell + (cell - w) / 2, top - 20), text, fill=MUTED, font=small)
    for r, (label, images) in enumerate(rows):
        y = top + r * cell
        _w, h = _text_size(draw, label, font)
        draw.text((8, y + (cell - h) / 2 - 2), label, fill=INK, font=font)
        for c, picture in enumerate(np.asarray(images, np.float32)):
            grey = Image.fromarray(np.rint(np.clip(picture, 0, 1) * 255).astype(np.uint8), "L")
            image.paste(grey.resize((28 * scale, 28 * scale), Image.NEAREST), (label_w + c * cell, y))
    return image


def matrix_chart(matrix, row_labels: Sequence[str], column_labels: Sequence[str], *, title: str,
                 xlabel: str, ylabel: str, cell: int = 38) -> Image.Image:
    """Counts (R, C) as cells shaded by their share of their row, each with its count."""
    m = np.asarray(matrix)
    if m.shape != (len(row_labels), len(column_labels)) or (m < 0).any():
        raise ValueError(f"matrix of shape {m.shape} for {len(row_labels)} x {len(column_labels)} labels, "
                         f"counts >= 0")
    font, small = _font(), _font(FONT_SIZE - 2)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    row_w = max(_text_size(probe, t, small)[0] for t in row_labels) + 10
    col_h = max(_text_size(probe, t, small)[1] for t in column_labels) + 10
    cell = max(cell, max(_text_size(probe, t, small)[0] for t in column_labels) + 10)
    left, top = 40 + row_w, 40 + col_h
    image = Image.new("RGB", (left + cell * m.shape[1] + 20, top + cell * m.shape[0] + 50), BACKGROUND)
    draw = ImageDraw.Draw(image)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            x, y = left + j * cell, top + i * cell
            shade = int(round(255 - 200 * share[i, j]))
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(shade, shade, 255), outline=GRID)
            if m[i, j]:
                text = f"{int(m[i, j])}"
                w, h = _text_size(draw, text, small)
                draw.text((x + (cell - w) / 2, y + (cell - h) / 2 - 2), text,
                          fill="#FFFFFF" if share[i, j] > 0.6 else INK, font=small)
    for i, t in enumerate(row_labels):
        w, h = _text_size(draw, t, small)
        draw.text((left - 8 - w, top + i * cell + (cell - h) / 2 - 2), t, fill=INK, font=small)
    for j, t in enumerate(column_labels):
        w, _h = _text_size(draw, t, small)
        draw.text((left + j * cell + (cell - w) / 2, top - col_h), t, fill=INK, font=small)
    _titles(image, (left, top, left + cell * m.shape[1], top + cell * m.shape[0]), title, xlabel, ylabel, font)
    return image
