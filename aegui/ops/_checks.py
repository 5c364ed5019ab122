"""Input checks for the pure-PyTorch path and the fake kernels, with the same messages as
csrc/checks.h.

The compiled ops check their inputs in C++; when they are not available the reference
runs, and a bad argument must still raise an exception that names it (not a shape error
from deep inside ``F.linear``). Which tensors an op takes comes from its table
(bottleneck.py).
"""

from __future__ import annotations

import torch

from ._reference import check_activation

_LETTER_SLOT = {"B": 0, "H": 1, "Z": 2}


def _shape(t: torch.Tensor) -> str:
    dims = tuple(t.shape)
    return str(dims)


def _letters(dims: str) -> str:
    return "(" + ", ".join(dims) + (",)" if len(dims) == 1 else ")")


class ArgChecker:
    """The first tensor checked fixes dtype and device; each dimension letter is fixed by the
    first tensor that uses it, so messages can say where an expected size came from."""

    def __init__(self, op: str):
        self.op = op
        self.first: tuple[str, torch.Tensor] | None = None
        self.sizes: dict[str, tuple[int, str]] = {}

    def check(self, name: str, t, dims: str) -> None:
        op = self.op
        if t is None:
            raise ValueError(f"{op}: {name} is missing (None)")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != len(dims):
            raise ValueError(f"{op}: {name} must be {len(dims)}-D {_letters(dims)}, got a {t.dim()}-D "
                             f"tensor of shape {_shape(t)}")
        if self.first is None:
            self.first = (name, t)
            allowed = (torch.float32, torch.float64)
            if t.is_cuda:
                allowed += (torch.float16, torch.bfloat16)
            if t.dtype not in allowed:
                supported = ("float32, float64, float16, bfloat16" if t.is_cuda
                             else "float32, float64")
                raise TypeError(f"{op}: {name} has dtype {t.dtype}; supported"
                                f"{'' if t.is_cuda else ' on the CPU'}: {supported}")
        else:
            first_name, first = self.first
            if t.dtype != first.dtype:
                raise TypeError(f"{op}: {name} has dtype {t.dtype} but {first_name} has {first.dtype}; "
                                "all inputs must share one dtype")
            if t.device != first.device:
                raise ValueError(f"{op}: {name} is on {t.device} but {first_name} is on {first.device}; "
                                 "all inputs must be on one device")
        for letter, got in zip(dims, t.shape):
            if letter not in self.sizes:
                self.sizes[letter] = (got, name)
            elif got != self.sizes[letter][0]:
                want, owner = self.sizes[letter]
                raise ValueError(f"{op}: {name} has shape {_shape(t)} but must be {_letters(dims)} "
                                 f"with {letter} = {want} (from {owner})")

    def size(self, letter: str):
        return self.sizes[letter][0]


def check_args(op: str, tensors, activation) -> ArgChecker:
    """Checks an op's activation and its tensors, given as (name, dims, required, value) in
    schema order, the way csrc/bindings.cpp does: required ones first, so that they fix the
    sizes a message quotes. Returns the checker, which knows the sizes."""
    _check_activation(op, activation)
    c = ArgChecker(op)
    for required in (True, False):
        for name, dims, is_required, value in tensors:
            if is_required == required and (required or value is not None):
                c.check(name, value, dims)
    return c


def _check_activation(op: str, activation) -> None:
    try:
        check_activation(activation)
    except ValueError as e:
        raise ValueError(f"{op}: {e}") from None
