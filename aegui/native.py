"""The op library's kernels for the numpy code of the drawing's path, once it is loaded.

Each step of a mouse move's pixels has a C++ twin in the op's library: painting the pen's
pixels (``aegui.raster``, ``paint_pieces``) and colouring them on the canvas
(``aegui.gui.canvas``, ``colour_box``), framing the page (``aegui.preprocess``,
``frame_digit``), and colouring a result for a small view (``aegui.gui.views``,
``colour_image``). The numpy code defines them and stays the fallback; the twins are used
only once the library is loaded, which loading a model does: this module looks the
library up and never imports torch itself, because importing torch here would hold up
the window (it is on screen before torch is imported). Without the library (no compiler,
``AEGUI_BACKEND=reference``) numpy computes.

The twins are functions of the library's Python module (``aegui._C``, see
``csrc/python_module.cpp``) that take numpy arrays as they are: no torch call, no tensor
made, so the UI thread touches no torch code while the user draws.
"""

from __future__ import annotations

import sys
from typing import Callable

__all__ = ["kernel"]

# name -> the kernel once found, or False once the loaded library turned out to lack it.
_found: dict[str, Callable | bool] = {}


def kernel(name: str) -> Callable | None:
    """``aegui._C.<name>`` once the op's library is loaded in this process; None before
    that (asked again next time), and for good when the loaded library lacks it (one built
    before the kernel existed)."""
    found = _found.get(name)
    if found is None:
        extension = sys.modules.get("aegui.ops._extension")
        if extension is None or not extension.loaded_already():
            return None
        module = sys.modules.get("aegui._C")
        found = _found[name] = getattr(module, name, False) if module is not None else False
    return found or None
