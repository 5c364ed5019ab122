"""One drawing through the model in one call: the inference thread's pass per stroke.

Why a traced pass: in eager mode every torch call releases Python's global lock and takes
it back, a dozen times per drawing. While the user draws, the UI thread runs Python
between those calls, so each taking-back waits for it, and the waits and thread switches
cost more than the arithmetic: on a 2-core machine with a busy Python thread beside it,
encoding and decoding one image took 2.4 ms of CPU eagerly and 0.7 ms traced (0.72 and
0.44 ms alone). ``torch.jit.trace`` records the pass (with the squared error the app
shows) once per kind of model, the weights as inputs, and runs it as one call that
releases the lock once. It is the only way torch offers to run a recorded graph
in-process without a compiler on the user's machine (``torch.compile`` needs one).

Each model loaded checks the traced pass against its own ``reconstruct`` on two images
before using it, and it must give the same numbers exactly; when tracing fails or differs (a
model object that is not a torch module, an operation the tracer cannot record), the
eager pass is used instead, and ``OneImagePass.why_eager`` says why.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable

import torch

__all__ = ["OneImagePass", "one_image_pass"]

SIDE = 28


class _Pass(torch.nn.Module):
    """(28, 28) frame -> (code (Z,), reconstruction (28, 28), its mean squared error (a
    0-d tensor)): ``model.reconstruct`` with the reshapes and the error in the graph, so
    that the caller makes no torch or large numpy call of its own."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z, image = self.model.reconstruct(frame.reshape(1, 1, SIDE, SIDE))
        image = image.reshape(SIDE, SIDE)
        return z.reshape(-1), image, ((image - frame) ** 2).mean()


class OneImagePass:
    """``pass_(frame)``: a (28, 28) float32 tensor on the model's device -> (code (Z,),
    reconstruction (28, 28), mean squared error). ``traced`` says which pass runs;
    ``why_eager`` why not the traced one ("" when it is)."""

    def __init__(self, run: Callable, traced: bool, why_eager: str = ""):
        self._run, self.traced, self.why_eager = run, traced, why_eager

    def __call__(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._run(frame)


@contextlib.contextmanager
def _weights_replaced(module: torch.nn.Module, names: list[str], tensors):
    """``module`` with the parameters and buffers ``names`` read as ``tensors`` (so that a
    trace takes them as inputs; torch.func.functional_call refuses to run under a trace)."""
    slots = []
    for name, tensor in zip(names, tensors):
        path, _, attr = name.rpartition(".")
        owner = module.get_submodule(path)
        table = owner._parameters if attr in owner._parameters else owner._buffers
        slots.append((table, attr, table[attr]))
        table[attr] = tensor
    try:
        yield
    finally:
        for table, attr, original in reversed(slots):
            table[attr] = original


# Traced passes by architecture: tracing makes TorchScript types that live as long as the
# process (about 0.8 MB per trace), so the pass is traced with the weights as inputs, once
# per kind of model, and every model of that kind runs it with its own weights.
_TRACED: dict[tuple, Callable] = {}


def one_image_pass(model, device: str | torch.device = "cpu") -> OneImagePass:
    """The fastest exact pass of one image through ``model`` (see the module docstring)."""
    eager = _Pass(model) if callable(getattr(model, "reconstruct", None)) else None
    if eager is None:
        raise TypeError(f"not a model with reconstruct(): {type(model).__name__}")
    probes = [torch.zeros(SIDE, SIDE, device=device),
              torch.rand(SIDE, SIDE, generator=torch.Generator().manual_seed(0)).to(device)]
    with torch.inference_mode():
        eager(probes[0])       # loads the op's library and initialises lazily, outside the trace
    if not isinstance(model, torch.nn.Module):
        return OneImagePass(eager, False, "the model is not a torch module")
    eager.eval()
    named = [*eager.named_parameters(), *eager.named_buffers()]
    names, weights = [name for name, _ in named], [tensor for _, tensor in named]
    # What the pass's Python decides by (the layers, the activations, the op's arguments),
    # as far as it shows; the check against the eager pass below catches the rest.
    key = (type(model).__qualname__, repr(model), repr(getattr(model, "config", None)), str(device),
           tuple((name, tuple(t.shape), t.dtype) for name, t in zip(names, weights)))
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # The model's own shape checks become constants of the trace: that is what is
            # wanted, since the traced pass only ever sees one (28, 28) frame.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = _TRACED.get(key)
            if traced is None:
                def run(frame, *tensors):
                    with _weights_replaced(eager, names, tensors):
                        return eager(frame)

                traced = torch.jit.trace(run, (probes[1], *weights), check_trace=False)
            for probe in probes:
                if not all(torch.equal(a, b) for a, b in zip(traced(probe, *weights), eager(probe))):
                    return OneImagePass(eager, False, "the traced pass differs from the model's")
    except Exception as err:  # noqa: BLE001 - any failure to trace leaves the eager pass
        return OneImagePass(eager, False, f"the model could not be traced: {type(err).__name__}: {err}")
    _TRACED[key] = traced
    return OneImagePass(lambda frame: traced(frame, *weights), True)
