"""Trust, but check at first use: the compiled kernels of a device, run once on small fixed
inputs (forward and backward, every op) and compared with the float64 reference.

The CUDA kernels were tested on the CPU by an emulator, and a GPU's compiler, driver or
hardware can still disagree. So the first time a process uses the CUDA backend,
bottleneck.py calls check("cuda"); on a mismatch beyond the documented tolerance it serves
CUDA tensors with the reference and says so. The check takes tens of milliseconds.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch

from . import _reference as ref

# Compare(actual, expected, dtype) -> how far actual is from expected, in units of its
# tolerance: at most 1 passes. Injectable, so that tests can force a mismatch.
Compare = Callable[[torch.Tensor, torch.Tensor, torch.dtype], float]


@dataclasses.dataclass(frozen=True)
class TrustCheck:
    state: str       # "unchecked", "passed", "failed" (a mismatch) or "error" (a kernel raised)
    detail: str      # the worst comparison, or the error; "" when unchecked
    seconds: float   # what the check cost

    @property
    def passed(self) -> bool:
        return self.state == "passed"


UNCHECKED = TrustCheck("unchecked", "", 0.0)


def tolerance_ratio(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> float:
    """max |a - b| / (rtol |b| + atol (1 + max |b|)) with the documented tolerances."""
    tol = ref.TOLERANCE[dtype]
    b = expected.double()
    a = actual.detach().double().cpu()
    if b.numel() == 0:
        return 0.0
    bound = tol["rtol"] * b.abs() + tol["atol"] * (1.0 + b.abs().max())
    return float(((a - b).abs() / bound).max())


def _inputs(op: str, B: int, H: int, Z: int, g: torch.Generator) -> list[torch.Tensor]:
    """Seeded float64 inputs, scaled like a trained network's."""
    def r(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    w_dec, b_dec = r(H, Z, scale=Z ** -0.5), r(H, scale=0.3)
    if op == "decode_head":
        return [r(B, Z), w_dec, b_dec]
    h, w_enc, b_enc = r(B, H), r(Z, H, scale=H ** -0.5), r(Z, scale=0.3)
    if op == "bottleneck":
        return [h, w_enc, b_enc, w_dec, b_dec]
    return [h, w_enc, b_enc, r(Z, H, scale=0.5 * H ** -0.5), r(Z, scale=0.3), w_dec, b_dec, r(B, Z)]


def _run(fn, args: list[torch.Tensor], activation: str, out_grads=None):
    """Outputs of fn(*args, activation) and the gradients of every input, given (or drawn)
    gradients on the outputs."""
    leaves = [a.detach().requires_grad_(True) for a in args]
    outs = fn(*leaves, activation)
    outs = outs if isinstance(outs, tuple) else (outs,)
    if out_grads is None:
        g = torch.Generator().manual_seed(7)
        out_grads = [torch.randn(o.shape, generator=g, dtype=torch.float64) for o in outs]
    grads = torch.autograd.grad(outs, leaves, [gr.to(o.dtype).to(o.device) for gr, o in zip(out_grads, outs)])
    return [o.detach() for o in outs], list(grads), out_grads


def measure(device: str, compare: Compare = tolerance_ratio) -> tuple[float, str]:
    """The worst tolerance ratio over every op's outputs and input gradients, in float32 on
    `device`, with where it was. The shapes reach the small-batch and the tiled kernels
    (2 and 5 rows) and latent slices (Z = 70)."""
    compiled = torch.ops.aegui
    worst, where = 0.0, "nothing compared"
    for B in (2, 5):
        for op in ("bottleneck", "variational_bottleneck", "decode_head"):
            args = _inputs(op, B, 33, 70, torch.Generator().manual_seed(B))
            fn = getattr(compiled, op)
            outs, grads, out_grads = _run(fn, [a.float().to(device) for a in args], "gelu")
            ref_outs, ref_grads, _ = _run(getattr(ref, op), args, "gelu", out_grads)
            labels = [f"output {k}" for k in range(len(outs))] + [f"gradient {k}" for k in range(len(grads))]
            for label, a, b in zip(labels, outs + grads, ref_outs + ref_grads):
                ratio = compare(a, b, torch.float32)
                if not ratio <= worst:  # NaN counts as worst
                    worst, where = ratio, f"{op} (B = {B}) {label}"
    return worst, where


def check(device: str, compare: Compare = tolerance_ratio) -> TrustCheck:
    """Runs measure() and says whether the kernels on `device` can be trusted."""
    start = time.perf_counter()
    try:
        worst, where = measure(device, compare)
    except Exception as e:  # a kernel that raises is as untrustworthy as a wrong one
        return TrustCheck("error", f"{type(e).__name__}: {e}", time.perf_counter() - start)
    seconds = time.perf_counter() - start
    detail = f"worst: {where}, {worst:.3g} times its tolerance"
    return TrustCheck("passed" if worst <= 1.0 else "failed", detail, seconds)
