"""The op library's kernels for numpy arrays (``aegui.native``), for the tests that hold
them to their numpy definitions: loaded here, or the test is skipped saying why."""

from __future__ import annotations

from typing import Callable

import pytest

__all__ = ["compiled_kernel"]


def compiled_kernel(name: str, otherwise: str) -> Callable:
    """``aegui.native.kernel(name)``, the library loaded first; skips the test when it is
    not there, saying why and that ``otherwise`` ("numpy paints") is what runs then."""
    from aegui import native
    from aegui.ops import _extension

    status = _extension.status()
    kernel = native.kernel(name)
    if kernel is None:
        pytest.skip(f"the op's compiled library is not loaded ({status.reason or f'it has no {name}'}): "
                    f"{otherwise} here")
    return kernel
