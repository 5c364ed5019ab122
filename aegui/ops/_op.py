"""What an op's table declares, and everything derived from it on the Python side.

An op is declared once, as a table of its tensors (bottleneck.py; the C++ side has the same
table in csrc/op_table.h). From the table come its schema and its backward's, the input
checks of the pure-PyTorch path, the fake kernels that torch.compile traces with, the
reference kernels that stand in for CUDA when the library has none, and the slot its
wrapper dispatches through.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import torch

from . import _checks

# A tensor the backward keeps only when act' can be read off it (y, for relu, tanh and
# identity); for the other activations the backward recomputes pre from z instead.
IF_ACT_FROM_OUTPUT = "if act' follows from y"


@dataclasses.dataclass(frozen=True)
class Row:
    """One tensor of an op, in schema order."""

    name: str
    dims: str                # one letter per dimension: B (batch), H (hidden), Z (latent)
    output: bool = False
    optional: bool = False   # an input that may be None
    keep: bool | str = True  # kept for the backward (an argument of the backward op)


def input_(name: str, dims: str, keep: bool = True) -> Row:
    return Row(name, dims, keep=keep)


def optional_input(name: str, dims: str) -> Row:
    return Row(name, dims, optional=True)


def output(name: str, dims: str, keep: bool | str = True) -> Row:
    return Row(name, dims, output=True, keep=keep)


class Op:
    """An op declared by its table, with the implementation its wrapper calls.

    ``eager`` and ``traced`` are what the wrapper calls outside and inside torch.compile;
    they start as a loader and are set once the library has loaded (or failed to);
    ``eager`` may be a gate in front of ``compiled`` until the CUDA kernels are checked.
    """

    # Slots: the wrapper reads `eager` on every call, and a slot is the quickest attribute.
    __slots__ = ("name", "rows", "reference", "backward_reference", "inputs", "outputs", "backward_args",
                 "_backward_reference_takes", "eager", "traced", "compiled", "loader")

    def __init__(self, name: str, rows: tuple[Row, ...], reference: Callable, backward_reference: Callable):
        self.name = name
        self.rows = rows
        self.reference = reference
        self.backward_reference = backward_reference
        self.inputs = tuple(r for r in rows if not r.output)
        self.outputs = tuple(r for r in rows if r.output)
        # The backward op's tensor arguments: the gradient of each output, then what is kept.
        kept = [r for r in self.inputs if r.keep] + [r for r in self.outputs if r.keep]
        self.backward_args = tuple(("grad_" + r.name, r, True) for r in self.outputs) + tuple(
            (r.name, r, False) for r in kept)
        accepted = inspect.signature(backward_reference).parameters
        self._backward_reference_takes = tuple(n for n, _, _ in self.backward_args if n in accepted)
        self.eager: Callable = self._load_then_call
        self.traced: Callable = self._load_then_call
        self.compiled: Callable | None = None  # the compiled op's C++ entry, once loaded
        self.loader: Callable[[], object] = lambda: None

    def __repr__(self) -> str:
        return f"Op({self.name})"

    # ----------------------------------------------------------------------- schemas

    def schema(self, backward: bool = False) -> str:
        """The schema csrc/op_table.h derives, character for character."""
        if not backward:
            args = [f"Tensor? {r.name}=None" if r.optional else f"Tensor {r.name}" for r in self.inputs]
            args.append("str activation='relu'")
            head = f"{self.name}({', '.join(args)}) -> "
            results = [r.name for r in self.outputs]
        else:
            args = [f"Tensor{'?' if self._may_be_none(r, is_grad) else ''} {name}"
                    for name, r, is_grad in self.backward_args]
            args += ["str activation", f"bool[{len(self.inputs)}] output_mask"]
            head = f"{self.name}_backward({', '.join(args)}) -> "
            results = ["grad_" + r.name for r in self.inputs]
        if len(results) == 1:
            return head + "Tensor"
        return head + "(" + ", ".join(f"Tensor {n}" for n in results) + ")"

    @staticmethod
    def _may_be_none(row: Row, is_grad: bool) -> bool:
        return is_grad or row.optional or row.keep == IF_ACT_FROM_OUTPUT

    # ------------------------------------------------------------------------ checks

    def bind(self, args: tuple) -> list:
        """Positional arguments completed with the defaults (the dispatcher may drop an
        argument equal to its default before calling a Python kernel)."""
        args = list(args)
        for row in self.inputs[len(args):]:
            if not row.optional:
                raise TypeError(f"aegui.{self.name}: {row.name} is missing")
            args.append(None)
        if len(args) == len(self.inputs):
            args.append("relu")
        return args

    def check(self, args: list) -> _checks.ArgChecker:
        tensors = [(r.name, r.dims, not r.optional, a) for r, a in zip(self.inputs, args)]
        return _checks.check_args(f"aegui.{self.name}", tensors, args[len(self.inputs)])

    def check_backward(self, args: list) -> _checks.ArgChecker:
        tensors = [(name, r.dims, not self._may_be_none(r, is_grad), a)
                   for (name, r, is_grad), a in zip(self.backward_args, args)]
        return _checks.check_args(f"aegui.{self.name}_backward", tensors, args[len(self.backward_args)])

    # ------------------------------------------------------------------------ kernels

    def checked_reference(self, *args):
        """The pure-PyTorch path: checked like the compiled op, differentiable by autograd."""
        args = self.bind(args)
        self.check(args)
        return self.reference(*args)

    def fake(self, *args):
        """Fake (meta) kernel: outputs of the right shapes. It checks its inputs too: it is
        what runs for meta tensors, and a mismatch must fail there as it does on a device."""
        args = self.bind(args)
        sizes = self.check(args)
        like = args[0]
        outs = tuple(like.new_empty([sizes.size(d) for d in r.dims]) for r in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def fake_backward(self, *args):
        sizes = self.check_backward(args)
        like = next(a for (_, r, g), a in zip(self.backward_args, args) if not self._may_be_none(r, g))
        return self._masked_results(args, lambda r: like.new_empty([sizes.size(d) for d in r.dims]))

    def reference_kernel(self, *args):
        """Stands in for the CUDA kernel when the library was built without CUDA."""
        args = self.bind(args)
        self.check(args)
        with torch.no_grad():
            return self.reference(*args)

    def reference_backward_kernel(self, *args):
        self.check_backward(args)
        named = {name: a for (name, _, _), a in zip(self.backward_args, args)}
        named["activation"] = args[len(self.backward_args)]
        grads = self.backward_reference(**{n: named[n] for n in self._backward_reference_takes + ("activation",)})
        by_name = dict(zip((r.name for r in self.inputs), grads))
        return self._masked_results(args, lambda r: by_name[r.name])

    def _masked_results(self, args, make):
        """One result per input: None where the output mask does not want it or the input
        was None (it has no gradient), else make(row)."""
        mask = args[len(self.backward_args) + 1]
        saved = {name: a for (name, _, is_grad), a in zip(self.backward_args, args) if not is_grad}
        absent = {r.name for r in self.inputs if r.optional and saved.get(r.name) is None}
        return tuple(make(r) if wanted and r.name not in absent else None for r, wanted in zip(self.inputs, mask))

    def _load_then_call(self, *args):
        self.loader()
        return self.eager(*args)
