"""Inputs for the op tests: seeded, scaled like a trained network's, and kept away from
the activations' kinks.

Why the kink matters: relu's derivative jumps at 0. When a pre-activation is within
rounding of 0, the op and the reference may land on different sides of it in float32
and the gradients then differ by a whole weight row; that is not an error of either.
Rows whose pre-activations come within KINK_MARGIN of 0 are therefore redrawn (float32
rounding of a pre-activation here is ~1e-7, far below the margin). The check sees the rows
and the latent code rounded to the dtype, as the kernels do (they decode z as stored);
float16 and bfloat16 get a wider margin, since one rounding step of a stored z moves a
pre-activation by up to ~1e-3.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from aegui import ops
from aegui.ops import _reference as ref

KINK_MARGIN = {torch.float32: 1e-4, torch.float64: 1e-4, torch.float16: 1e-3, torch.bfloat16: 4e-3}

# Tolerances against the float64 reference (documented there, and in README).
TOLERANCE = ref.TOLERANCE


def assert_close(a, b, dtype, msg=""):
    tol = TOLERANCE[dtype]
    scale = 1.0 + (b.abs().max().item() if b.numel() else 0.0)
    torch.testing.assert_close(a.double(), b.double(), rtol=tol["rtol"], atol=tol["atol"] * scale,
                               msg=lambda m: f"{msg}: {m}")

OPS = ("bottleneck", "variational_bottleneck", "decode_head")


@dataclasses.dataclass
class Case:
    op: str
    inputs: dict            # name -> tensor, in the op's argument order
    activation: str

    def args(self):
        return list(self.inputs.values())

    def call(self, fn_namespace):
        """Calls fn_namespace.<op> (aegui.ops or the reference module)."""
        fn = getattr(fn_namespace, self.op)
        if self.op == "variational_bottleneck":
            i = self.inputs
            return fn(i["h"], i["w_mu"], i["b_mu"], i["w_logvar"], i["b_logvar"], i["w_dec"], i["b_dec"],
                      i.get("eps"), self.activation)
        return fn(*self.args(), self.activation)


def _rand(g, shape, dtype, scale, layout):
    """A tensor with the given shape; layout "transposed" makes it a transposed view of a
    contiguous tensor, "strided" a view that skips every other element."""
    if layout == "transposed" and len(shape) == 2:
        return (torch.randn(shape[::-1], generator=g, dtype=torch.float64) * scale).to(dtype).t()
    if layout == "strided":
        big = torch.randn(*shape[:-1], shape[-1] * 2, generator=g, dtype=torch.float64) * scale
        return big.to(dtype)[..., ::2]
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def make_case(op: str, B: int, H: int, Z: int, activation: str, dtype=torch.float32, seed: int = 0,
              layout: str = "contiguous", with_eps: bool = True) -> Case:
    g = torch.Generator().manual_seed(seed)
    w_dec = _rand(g, (H, Z), dtype, Z ** -0.5, layout)
    b_dec = _rand(g, (H,), dtype, 0.3, "contiguous")
    if op == "decode_head":
        weights = dict(w_dec=w_dec, b_dec=b_dec)
        row_inputs = ("z",)
    elif op == "bottleneck":
        weights = dict(w_enc=_rand(g, (Z, H), dtype, H ** -0.5, layout), b_enc=_rand(g, (Z,), dtype, 0.3, "contiguous"),
                       w_dec=w_dec, b_dec=b_dec)
        row_inputs = ("h",)
    else:
        weights = dict(w_mu=_rand(g, (Z, H), dtype, H ** -0.5, layout), b_mu=_rand(g, (Z,), dtype, 0.3, "contiguous"),
                       w_logvar=_rand(g, (Z, H), dtype, 0.5 * H ** -0.5, layout),
                       b_logvar=_rand(g, (Z,), dtype, 0.3, "contiguous"), w_dec=w_dec, b_dec=b_dec)
        row_inputs = ("h", "eps") if with_eps else ("h",)
    width = {"z": Z, "h": H, "eps": Z}
    rows = {name: [] for name in row_inputs}
    kept = 0
    for _attempt in range(100):
        if kept >= B:
            break
        n = 2 * (B - kept) + 8
        cand = {name: torch.randn(n, width[name], generator=g, dtype=torch.float64) for name in row_inputs}
        good = _rows_away_from_kink(op, cand, weights, activation, dtype)
        for name in row_inputs:
            rows[name].append(cand[name][good][: B - kept])
        kept += min(int(good.sum()), B - kept)
    assert kept >= B, "could not draw inputs away from relu's kink"
    inputs = {}
    for name in row_inputs:
        full = torch.cat(rows[name]) if rows[name] else torch.empty(0, width[name], dtype=torch.float64)
        inputs[name] = _as_layout(full[:B].to(dtype), layout)
    order = {"decode_head": ("z", "w_dec", "b_dec"),
             "bottleneck": ("h", "w_enc", "b_enc", "w_dec", "b_dec"),
             "variational_bottleneck": ("h", "w_mu", "b_mu", "w_logvar", "b_logvar", "w_dec", "b_dec", "eps")}[op]
    merged = {**inputs, **weights}
    return Case(op, {k: merged[k] for k in order if k in merged}, activation)


def _as_layout(t, layout):
    if layout == "transposed":
        return t.t().contiguous().t()
    if layout == "strided":
        return torch.repeat_interleave(t, 2, dim=-1)[..., ::2]
    return t


def _rows_away_from_kink(op, cand, weights, activation, dtype):
    n = next(iter(cand.values())).shape[0]
    if activation != "relu":
        return torch.ones(n, dtype=torch.bool)
    w = {k: v.double() for k, v in weights.items()}
    x = {k: v.to(dtype).double() for k, v in cand.items()}  # the rows as the op gets them
    if op == "decode_head":
        z = x["z"]
    elif op == "bottleneck":
        z = torch.nn.functional.linear(x["h"], w["w_enc"], w["b_enc"])
    else:
        z = ref.variational_bottleneck(x["h"], w["w_mu"], w["b_mu"], w["w_logvar"], w["b_logvar"],
                                       w["w_dec"], w["b_dec"], x.get("eps"), "identity")[2]
    pre = torch.nn.functional.linear(z.to(dtype).double(), w["w_dec"], w["b_dec"])
    if pre.shape[1] == 0:
        return torch.ones(n, dtype=torch.bool)
    return pre.abs().amin(dim=1) >= KINK_MARGIN[dtype]


def outputs_and_grads(case: Case, namespace, output_grads=None, upcast=False):
    """Runs the op, backpropagates the given gradients on every output, and returns
    (outputs, input gradients). upcast=True runs it in float64 (the oracle)."""
    leaves = {k: (v.detach().double() if upcast else v.detach()).requires_grad_(True)
              for k, v in case.inputs.items()}
    run = Case(case.op, leaves, case.activation)
    outs = run.call(namespace)
    outs = outs if isinstance(outs, tuple) else (outs,)
    if output_grads is None:
        g = torch.Generator().manual_seed(1)
        output_grads = [torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.dtype) for o in outs]
    grads = [gr.to(o.dtype) for gr, o in zip(output_grads, outs)]
    torch.autograd.backward(outs, grads)
    return [o.detach() for o in outs], {k: v.grad for k, v in leaves.items()}, output_grads


def assert_matches_reference(case: Case, namespace, dtype):
    """Outputs and every input gradient of namespace.<op> agree with the float64 reference."""
    outs, grads, out_grads = outputs_and_grads(case, namespace)
    ref_outs, ref_grads, _ = outputs_and_grads(case, ref, out_grads, upcast=True)
    for k, (a, b) in enumerate(zip(outs, ref_outs)):
        assert a.dtype == dtype, f"output {k} has dtype {a.dtype}"
        assert_close(a, b, dtype, f"{case.op} output {k}")
    for name in grads:
        a, b = grads[name], ref_grads[name]
        assert a is not None, f"{case.op}: no gradient for {name}"
        assert_close(a, b, dtype, f"{case.op} grad {name}")


# ------------------------------------------------------------------ backends and ISAs


def compiled_op_required(device="cpu"):
    if ops.backend(device) == "reference":
        pytest.skip(f"the compiled op is not loaded for {device}: {ops.library_status().reason}")


def cpu_isas():
    """Every CPU code path this processor can run ("generic" always)."""
    if ops.backend("cpu") == "reference":
        return ["generic"]
    return ["generic"] + [isa for isa in ("avx2", "avx512") if _can_set(isa)]


def _can_set(isa):
    current = torch.ops.aegui.cpu_isa("")
    try:
        torch.ops.aegui.cpu_isa(isa)
        return True
    except ValueError:
        return False
    finally:
        torch.ops.aegui.cpu_isa(current)


@pytest.fixture(params=cpu_isas())
def cpu_isa(request):
    """Runs a CPU test once per SIMD code path, restoring the default afterwards. A test
    module uses it by importing it."""
    current = torch.ops.aegui.cpu_isa("")
    torch.ops.aegui.cpu_isa(request.param)
    yield request.param
    torch.ops.aegui.cpu_isa(current)
