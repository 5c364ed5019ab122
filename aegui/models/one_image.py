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
For the same reason the pass also finds the drawing's nearest reference codes for the
neighbours' vote and computes the verdict head's probabilities (``aegui.verdict``, where
both are defined in numpy): in numpy the search let the lock go four times per drawing, and
the two took 0.19 and 0.10 ms of the inference thread's time in the app.

Each model loaded checks the traced pass against its own ``reconstruct`` on two images
before using it, and it must give the same numbers exactly; when tracing fails or differs (a
model object that is not a torch module, an operation the tracer cannot record), the
eager pass is used instead, and ``OneImagePass.why_eager`` says why.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable

import numpy as np
import torch

__all__ = ["OneImagePass", "one_image_pass"]

SIDE = 28


class _Pass(torch.nn.Module):
    """(28, 28) frame -> (code (Z,), reconstruction (28, 28), its mean squared error (a
    0-d tensor), the indices (k,) of the k reference codes nearest the code, nearest
    first (or an empty tensor), the verdict head's probabilities (11,) (or an empty
    tensor)): ``model.reconstruct`` with the reshapes, the error, the neighbours' search and
    the head in the graph, so that the caller makes no torch or large numpy call of its own.

    The search is ``aegui.verdict.knn_vote``'s (squared distances less |z|^2, in float32)
    and the head ``VerdictHead.probabilities`` (float32 layers, float64 softmax), the
    definitions, in torch: the same numbers but for the order of a few float32 sums, and a
    tie in distance may be broken otherwise (tests/test_one_image.py holds them to the
    definitions; on 7,494 drawn pen digits and the four shipped models the verdicts were
    the same and the confidences within 7.3e-7)."""

    def __init__(self, model, reference_codes=None, k: int = 0, head=None):
        super().__init__()
        self.model, self.k, self.head_layers = model, 0, 0
        if reference_codes is not None and len(reference_codes) and k > 0:
            from aegui.verdict import squared_norms

            self.k = min(int(k), len(reference_codes))
            self._keep("reference_codes", reference_codes)
            self._keep("reference_norms", squared_norms(reference_codes))
        if head is not None:
            self.head_layers = len(head.layers)
            self._keep("head_mean", head.mean)
            self._keep("head_scale", head.scale)
            for i, (weight, bias) in enumerate(head.layers):
                self._keep(f"head_weight_{i}", weight)
                self._keep(f"head_bias_{i}", bias)

    def _keep(self, name: str, array) -> None:
        self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(array, np.float32)), persistent=False)

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z, image = self.model.reconstruct(frame.reshape(1, 1, SIDE, SIDE))
        z, image = z.reshape(-1), image.reshape(SIDE, SIDE)
        nearest = probabilities = z.new_empty(0)
        if self.k:
            d2 = self.reference_norms - 2.0 * (self.reference_codes @ z.float())
            nearest = torch.topk(d2, self.k, largest=False, sorted=True).indices
        if self.head_layers:
            h = (z.float() - self.head_mean) / self.head_scale
            for i in range(self.head_layers):
                h = getattr(self, f"head_weight_{i}") @ h + getattr(self, f"head_bias_{i}")
                if i < self.head_layers - 1:
                    h = torch.relu(h)
            probabilities = torch.softmax(h.double(), 0)
        return z, image, ((image - frame) ** 2).mean(), nearest, probabilities


class OneImagePass:
    """``pass_(frame)``: a (28, 28) float32 tensor on the model's device -> (code (Z,),
    reconstruction (28, 28), mean squared error, the indices (k,) of the nearest reference
    codes, nearest first, or None without them, the verdict head's probabilities (11,) or
    None without one); ``pass_.of_frame`` the same from and to numpy. ``traced`` says
    which pass runs; ``why_eager`` why not the traced one ("" when it is)."""

    def __init__(self, run: Callable, traced: bool, why_eager: str = "", device: str | torch.device = "cpu"):
        """``run``: the pass, which records no autograd graph (the traced one gets detached
        weights, the eager one runs in inference mode)."""
        self._run, self.traced, self.why_eager = run, traced, why_eager
        self.device = torch.device(device)

    def __call__(self, frame: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z, image, error, nearest, probabilities = self._run(frame)
        return z, image, error, nearest if len(nearest) else None, probabilities if len(probabilities) else None

    def of_frame(self, frame: np.ndarray) -> tuple:
        """The pass of a (28, 28) float32 numpy frame: (code, reconstruction, mean squared
        error, nearest or None, probabilities or None) as numpy and a float. On the CPU it
        makes no torch call beyond the pass and reading its results (each would let the UI
        thread's Python in, and a context manager costs as much as a few)."""
        x = torch.from_numpy(frame)
        if self.device.type != "cpu":
            x = x.to(self.device)
        z, image, error, nearest, probabilities = self._run(x)
        return (_as_numpy(z, np.float32), _as_numpy(image, np.float32), error.item(),
                _as_numpy(nearest) if len(nearest) else None,
                _as_numpy(probabilities) if len(probabilities) else None)


def _as_numpy(tensor: torch.Tensor, dtype=None) -> np.ndarray:
    """A result as numpy (of ``dtype``), with no further torch call when it is on the CPU."""
    if tensor.device.type != "cpu" or tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float().cpu()
    return tensor.numpy() if dtype is None else np.asarray(tensor.numpy(), dtype)


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


def one_image_pass(model, device: str | torch.device = "cpu", reference_codes=None, k: int = 0,
                   head=None) -> OneImagePass:
    """The fastest exact pass of one image through ``model`` (see the module docstring),
    finding the ``k`` nearest of ``reference_codes`` (N, Z) and the probabilities of the
    verdict ``head`` (``aegui.verdict.VerdictHead``) too, when given."""
    if not callable(getattr(model, "reconstruct", None)):
        raise TypeError(f"not a model with reconstruct(): {type(model).__name__}")
    eager = _Pass(model, reference_codes, k, head).to(device)
    probes = [torch.zeros(SIDE, SIDE, device=device),
              torch.rand(SIDE, SIDE, generator=torch.Generator().manual_seed(0)).to(device)]
    with torch.inference_mode():
        eager(probes[0])       # loads the op's library and initialises lazily, outside the trace
    eager_run = torch.inference_mode()(eager)
    if not isinstance(model, torch.nn.Module):
        return OneImagePass(eager_run, False, "the model is not a torch module", device)
    eager.eval()
    named = [*eager.named_parameters(), *eager.named_buffers()]
    names, weights = [name for name, _ in named], [tensor for _, tensor in named]
    # What the pass's Python decides by (the layers, the activations, the op's arguments),
    # as far as it shows; the check against the eager pass below catches the rest.
    # (The head's layers and the references show in the names and shapes; k does not.)
    key = (type(model).__qualname__, repr(model), repr(getattr(model, "config", None)), str(device), eager.k,
           tuple((name, tuple(t.shape), t.dtype) for name, t in zip(names, weights)))
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # The model's own shape checks become constants of the trace: that is what is
            # wanted, since the traced pass only ever sees one (28, 28) frame.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = _TRACED.get(key)
            if traced is None:
                # The trace keeps the function it recorded, and the function must not keep
                # this model: the trace is kept for every later model of its kind, and the
                # first one's weights would stay in memory after the user had moved on.
                traced_model = [eager]

                def run(frame, *tensors):
                    with _weights_replaced(traced_model[0], names, tensors):
                        return traced_model[0](frame)

                traced = torch.jit.trace(run, (probes[1], *weights), check_trace=False)
                traced_model.clear()
            for probe in probes:
                if not all(torch.equal(a, b) for a, b in zip(traced(probe, *weights), eager(probe))):
                    return OneImagePass(eager_run, False, "the traced pass differs from the model's", device)
    except Exception as err:  # noqa: BLE001 - any failure to trace leaves the eager pass
        return OneImagePass(eager_run, False, f"the model could not be traced: {type(err).__name__}: {err}", device)
    _TRACED[key] = traced
    detached = [tensor.detach() for tensor in weights]     # so that no autograd graph is recorded
    return OneImagePass(lambda frame: traced(frame, *detached), True, device=device)
