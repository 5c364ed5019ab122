"""The op library's kernels for the numpy code of the drawing's path, once it is loaded.

Two steps of every mouse move have a C++ twin in the op's library: painting the pen's
pixels (``aegui.raster``, op ``paint_pieces``) and framing the page (``aegui.preprocess``,
op ``frame_digit``). The numpy code defines them and stays the fallback; the twins are
used only once the library is loaded, which loading a model does: this module looks the
library up and never imports torch itself, because importing torch here would hold up
the window (it is on screen before torch is imported). Without the library (no compiler,
``AEGUI_BACKEND=reference``) numpy computes.
"""

from __future__ import annotations

import sys
from typing import Callable

__all__ = ["op", "tensor"]

# name -> the op once found, or False once the loaded library turned out to lack it.
_found: dict[str, Callable | bool] = {}
# torch.from_numpy, once an op is found. The callers run once or twice per mouse move,
# and with PySide6 loaded every import statement runs its import hook (2.4 us each).
_from_numpy: Callable | None = None


def op(name: str) -> Callable | None:
    """``torch.ops.aegui.<name>`` once the op's library is loaded in this process; None
    before that (asked again next time), and for good when the loaded library lacks it
    (one built before the kernel existed)."""
    found = _found.get(name)
    if found is None:
        extension = sys.modules.get("aegui.ops._extension")
        if extension is None or not extension.loaded_already():
            return None
        import torch

        global _from_numpy
        _from_numpy = torch.from_numpy
        found = _found[name] = getattr(torch.ops.aegui, name) if hasattr(torch.ops.aegui, name) else False
    return found or None


def tensor(array):
    """``torch.from_numpy(array)`` (sharing its memory), for the arguments of an op that
    ``op`` found (torch is imported by then)."""
    if _from_numpy is None:
        raise RuntimeError("native.tensor before native.op found an op")
    return _from_numpy(array)
