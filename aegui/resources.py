"""Where the files the package ships are: ``resources/`` (the model zoo and its cards,
reference data, the application icon) and ``csrc/`` (the op's sources, for the JIT build).

An installed package (a wheel, ``pip install .``, the sdist) carries copies of both inside
it, ``aegui/_resources`` and ``aegui/_csrc`` (setup.py makes them), found here through
``importlib.resources``. A source checkout or an editable install has none: the top-level
folders beside the package are read instead, and they are the source of truth either way.
Standard library only.
"""

from __future__ import annotations

from importlib import resources as _importlib_resources
from pathlib import Path

__all__ = ["ICON_SIZES", "csrc_dir", "icon_path", "resources_dir"]

# The icon's PNG renderings in resources/icons/ (its SVG serves every other size).
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

_CHECKOUT = Path(__file__).resolve().parents[1]


def _shipped(packaged: str, top_level: str) -> Path:
    inside = _importlib_resources.files("aegui") / packaged
    if inside.is_dir():
        # Installed packages are plain folders on disk (the compiled op rules out zip
        # imports), so the traversable is a real path.
        return Path(str(inside))
    return _CHECKOUT / top_level


def resources_dir() -> Path:
    """The shipped resources: ``models/``, ``icons/``, ``reference/``."""
    return _shipped("_resources", "resources")


def csrc_dir() -> Path:
    """The op's C++ and CUDA sources."""
    return _shipped("_csrc", "csrc")


def icon_path(size: int | None = None) -> Path:
    """The application icon: the PNG of ``size`` pixels, or the SVG when None."""
    folder = resources_dir() / "icons"
    return folder / ("aegui.svg" if size is None else f"aegui-{size}.png")
