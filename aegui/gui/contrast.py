"""Readable colours: the contrast ratio of two colours as WCAG 2 defines it, and a muted
text colour that stays readable (``muted``): the hint lines under the panels are quieter
than the text around them, yet at least ``READABLE`` (4.5:1, WCAG's AA for body text)
against their background, in a light palette or a dark one. Plain arithmetic on (r, g, b)
in 0..255: no Qt."""

from __future__ import annotations

__all__ = ["READABLE", "contrast_ratio", "muted"]

READABLE = 4.5
QUIET = 5.0          # the muted colour aims here: readable with a margin, yet clearly quieter than text


def _channel(value: float) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb) -> float:
    """Relative luminance of an sRGB colour (r, g, b) in 0..255."""
    r, g, b = (_channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a, b) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter over the darker: 1 to 21."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def muted(text, background, target: float = QUIET) -> tuple[int, int, int]:
    """``text`` moved towards ``background`` as far as keeps ``target`` contrast (never
    below what ``text`` itself has, when that is less)."""
    text, background = tuple(text[:3]), tuple(background[:3])
    goal = min(target, contrast_ratio(text, background))
    lo, hi = 0.0, 1.0            # how far towards the background; bisect for the farthest that is readable
    for _ in range(24):
        mid = (lo + hi) / 2
        if contrast_ratio(_mix(text, background, mid), background) >= goal:
            lo = mid
        else:
            hi = mid
    return _mix(text, background, lo)


def _mix(a, b, t: float) -> tuple[int, int, int]:
    # Rounded towards a (the text): rounding must never cost the contrast just found.
    out = []
    for x, y in zip(a, b):
        v = x + (y - x) * t
        out.append(int(v // 1) if y > x else int(-(-v // 1)))
    return tuple(out)
