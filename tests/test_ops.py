"""The fused bottleneck op agrees with its pure-PyTorch reference, forward and backward,
on every device present, through autograd, gradcheck, opcheck and torch.compile."""

from __future__ import annotations

import itertools

import pytest
import torch

from aegui import ops
from aegui.ops import _reference as ref
from aegui.ops.bottleneck import OPS as OP_TABLES

from ops_cases import (OPS, assert_close, assert_matches_reference, compiled_op_required,  # noqa: F401
                       cpu_isa, make_case, outputs_and_grads)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device on this machine"))]


def test_compiled_op_is_the_cpu_backend_here():
    # CI builds the extension; if this fails the rest would silently test the reference.
    assert ops.backend("cpu") == "cpu", ops.library_status().reason
    assert ops.library_status().how == "prebuilt"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("activation", ops.ACTIVATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_matches_reference_on_the_issue_grid(device, op, activation, dtype, cpu_isa):
    """B in {0, 1, 3, 257} x H in {1, 7, 256, 1000} x Z in {1, 2, 16, 64}."""
    compiled_op_required(device)
    for k, (B, H, Z) in enumerate(itertools.product((0, 1, 3, 257), (1, 7, 256, 1000), (1, 2, 16, 64))):
        if cpu_isa == "generic" and B * H * Z > 300_000:
            continue  # the portable path is slow by design; smaller shapes cover its logic
        case = make_case(op, B, H, Z, activation, dtype, seed=k)
        case.inputs = {n: t.to(device) for n, t in case.inputs.items()}
        assert_matches_reference(case, ops, dtype)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 and bfloat16 run on CUDA only; no CUDA device")
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("activation", ["gelu", "silu", "tanh", "identity"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_precision_on_cuda_matches_reference(op, activation, dtype):
    """relu is left out: a pre-activation rounded to half precision may cross its kink."""
    compiled_op_required("cuda")
    for k, (B, H, Z) in enumerate([(1, 256, 16), (3, 7, 2), (257, 1000, 64), (0, 5, 3), (64, 1024, 16)]):
        case = make_case(op, B, H, Z, activation, dtype, seed=k)
        case.inputs = {n: t.to("cuda") for n, t in case.inputs.items()}
        assert_matches_reference(case, ops, dtype)


def test_half_precision_is_refused_on_the_cpu():
    compiled_op_required()
    case = make_case("bottleneck", 2, 4, 3, "relu", torch.float16)
    with pytest.raises(TypeError, match="float16"):
        case.call(ops)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_non_contiguous_inputs_give_the_same_result(device, op, layout):
    compiled_op_required(device)
    for act in ("relu", "gelu"):
        case = make_case(op, 33, 70, 9, act, seed=3, layout=layout)
        case.inputs = {n: t.to(device) for n, t in case.inputs.items()}
        assert any(not t.is_contiguous() for t in case.inputs.values())
        assert_matches_reference(case, ops, torch.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_inputs_without_requires_grad_run_forward_only(device):
    compiled_op_required(device)
    case = make_case("bottleneck", 5, 12, 3, "silu", seed=4)
    args = [t.to(device) for t in case.args()]
    z, y = ops.bottleneck(*args, activation="silu")
    assert not z.requires_grad and not y.requires_grad
    z_ref, y_ref = ref.bottleneck(*args, activation="silu")
    assert_close(z, z_ref, torch.float32, "z")
    assert_close(y, y_ref, torch.float32, "y")


@pytest.mark.parametrize("device", DEVICES)
def test_gradient_flows_from_z_alone_and_from_y_alone(device):
    """Incoming gradients on z (a latent loss) as well as on y."""
    compiled_op_required(device)
    case = make_case("bottleneck", 4, 10, 3, "tanh", dtype=torch.float64, seed=5)
    for which in (0, 1):
        leaves = [t.to(device).requires_grad_() for t in case.args()]
        out = ops.bottleneck(*leaves, activation="tanh")[which]
        grads = torch.autograd.grad(out.square().sum(), leaves, allow_unused=True, materialize_grads=True)
        leaves_ref = [t.detach().clone().requires_grad_() for t in leaves]
        out_ref = ref.bottleneck(*leaves_ref, activation="tanh")[which]
        # With z alone, the decoder's weights get no gradient in the reference: zeros.
        grads_ref = torch.autograd.grad(out_ref.square().sum(), leaves_ref, allow_unused=True,
                                        materialize_grads=True)
        for a, b in zip(grads, grads_ref):
            assert_close(a, b, torch.float64, "gradient")


@pytest.mark.parametrize("device", DEVICES)
def test_variational_gradients_reach_mu_and_logvar_losses(device):
    """A KL term differentiates mu and logvar directly, not only through z."""
    compiled_op_required(device)
    case = make_case("variational_bottleneck", 6, 11, 4, "relu", dtype=torch.float64, seed=6)

    def loss(namespace, leaves):
        i = dict(zip(case.inputs, leaves))
        mu, logvar, z, y = namespace.variational_bottleneck(i["h"], i["w_mu"], i["b_mu"], i["w_logvar"],
                                                            i["b_logvar"], i["w_dec"], i["b_dec"], i["eps"], "relu")
        kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum()
        return kl + y.sum()

    leaves = [t.to(device).requires_grad_() for t in case.args()]
    grads = torch.autograd.grad(loss(ops, leaves), leaves)
    leaves_ref = [t.detach().clone().requires_grad_() for t in leaves]
    grads_ref = torch.autograd.grad(loss(ref, leaves_ref), leaves_ref)
    for a, b in zip(grads, grads_ref):
        assert_close(a, b, torch.float64, "gradient")


def test_variational_without_eps_returns_z_equal_to_mu_but_not_aliased():
    compiled_op_required()
    case = make_case("variational_bottleneck", 3, 8, 2, "relu", with_eps=False)
    mu, _logvar, z, _y = case.call(ops)
    torch.testing.assert_close(z, mu)
    assert z.data_ptr() != mu.data_ptr()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("activation", ops.ACTIVATIONS)
def test_gradcheck_in_float64(device, op, activation):
    compiled_op_required(device)
    case = make_case(op, 3, 6, 4, activation, dtype=torch.float64, seed=7)
    leaves = [t.to(device).requires_grad_() for t in case.args()]

    def f(*xs):
        return call_op(case, xs)

    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-6)


def call_op(case, xs, namespace=ops):
    i = dict(zip(case.inputs, xs))
    if case.op == "variational_bottleneck":
        return namespace.variational_bottleneck(i["h"], i["w_mu"], i["b_mu"], i["w_logvar"], i["b_logvar"],
                                                i["w_dec"], i["b_dec"], i.get("eps"), case.activation)
    return getattr(namespace, case.op)(*xs, activation=case.activation)


def squares(outs):
    outs = outs if isinstance(outs, tuple) else (outs,)
    return sum(o.square().sum() for o in outs)


@pytest.mark.parametrize("op", OPS)
def test_double_backward_is_refused_with_an_error_that_says_so(op):
    """The compiled backward has no derivative of its own (see aegui/ops/bottleneck.py): a
    gradient built with create_graph=True is exact, and differentiating it raises, naming
    the way out, instead of silently giving zeros."""
    compiled_op_required()
    case = make_case(op, 3, 6, 4, "gelu", dtype=torch.float64, seed=12)
    leaves = [t.clone().requires_grad_() for t in case.args()]
    grads = torch.autograd.grad(squares(call_op(case, leaves)), leaves, create_graph=True)
    ref_leaves = [t.detach().clone().requires_grad_() for t in leaves]
    ref_grads = torch.autograd.grad(squares(call_op(case, ref_leaves, ref)), ref_leaves)
    for a, b in zip(grads, ref_grads):
        assert_close(a, b, torch.float64, "first derivative")
    with pytest.raises(RuntimeError, match=rf"aegui.{op}: double backward .*\(AEGUI_BACKEND=reference\)"):
        torch.autograd.grad(sum(g.sum() for g in grads), leaves)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.gradgradcheck(lambda *xs: call_op(case, xs), leaves)


@pytest.mark.parametrize("op", OPS)
def test_the_reference_differentiates_twice(op):
    """The way out the error names."""
    case = make_case(op, 3, 6, 4, "gelu", dtype=torch.float64, seed=12)
    leaves = [t.clone().requires_grad_() for t in case.args()]
    assert torch.autograd.gradgradcheck(lambda *xs: call_op(case, xs, ref), leaves)


@pytest.mark.parametrize("op", OPS)
def test_the_python_and_cpp_tables_declare_the_same_op(op):
    """bottleneck.py and csrc/op_table.h each declare the op; both derive the same schemas."""
    compiled_op_required()
    table = OP_TABLES[op]
    for backward in (False, True):
        registered = getattr(torch.ops.aegui, op + ("_backward" if backward else "")).default._schema
        assert str(registered) == str(torch._C.parse_schema("aegui::" + table.schema(backward)))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("B", [1, 40])
def test_the_backward_op_computes_only_what_its_output_mask_asks_for(op, B, cpu_isa):
    compiled_op_required()
    table = OP_TABLES[op]
    case = make_case(op, B, 21, 5, "silu", seed=13)
    outs, _grads, out_grads = outputs_and_grads(case, ops)
    named = {**case.inputs, **dict(zip((r.name for r in table.outputs), outs))}
    named.update({"grad_" + r.name: g for r, g in zip(table.outputs, out_grads)})
    args = [named[name] for name, _row, _is_grad in table.backward_args] + ["silu"]
    backward = getattr(torch.ops.aegui, op + "_backward")
    n = len(table.inputs)
    full = backward(*args, [True] * n)
    for k in range(n):
        part = backward(*args, [i == k for i in range(n)])
        assert [p is not None for p in part] == [i == k for i in range(n)]
        torch.testing.assert_close(part[k], full[k], rtol=0, atol=0)


class BackwardMasks(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the output_mask of every backward op that runs."""

    def __init__(self):
        super().__init__()
        self.masks = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.name().endswith("_backward"):
            self.masks.append(list(args[-1]))
        return func(*args, **(kwargs or {}))


def test_autograd_asks_the_backward_only_for_the_gradients_it_needs():
    compiled_op_required()
    case = make_case("bottleneck", 9, 12, 4, "gelu", seed=14)
    names = list(case.inputs)
    for wanted in (["w_enc", "b_enc", "w_dec", "b_dec"], ["w_dec", "b_dec"], ["h"], ["b_enc"]):
        leaves = {k: v.clone().requires_grad_(k in wanted or k == "w_dec") for k, v in case.inputs.items()}
        ref_leaves = {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in leaves.items()}
        with BackwardMasks() as seen:
            grads = torch.autograd.grad(squares(call_op(case, list(leaves.values()))), [leaves[k] for k in wanted])
        assert seen.masks == [[k in wanted for k in names]], wanted
        ref_grads = torch.autograd.grad(squares(call_op(case, list(ref_leaves.values()), ref)),
                                        [ref_leaves[k] for k in wanted])
        for a, b in zip(grads, ref_grads):
            assert_close(a, b, torch.float32, f"gradient of {wanted}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
def test_opcheck(device, op):
    """Schema, fake kernel, autograd registration and AOT dispatch agree with the kernel."""
    compiled_op_required(device)
    case = make_case(op, 5, 9, 3, "gelu", seed=8)
    args = [t.to(device).requires_grad_() for t in case.args()]
    overload = getattr(torch.ops.aegui, op).default
    if op == "variational_bottleneck":
        torch.library.opcheck(overload, (*args, "gelu"))
        no_eps = args[:-1] + [None]
        torch.library.opcheck(overload, (*no_eps, "gelu"))
    else:
        torch.library.opcheck(overload, (*args, "gelu"))


class Bottlenecks(torch.nn.Module):
    """A module that uses all three ops, as the models do."""

    def __init__(self, H=12, Z=3):
        super().__init__()
        g = torch.Generator().manual_seed(9)
        p = lambda *s: torch.nn.Parameter(torch.randn(*s, generator=g) * 0.3)  # noqa: E731
        self.w_enc, self.b_enc, self.w_lv, self.b_lv = p(Z, H), p(Z), p(Z, H), p(Z)
        self.w_dec, self.b_dec = p(H, Z), p(H)

    def forward(self, h, eps):
        z, y = ops.bottleneck(h, self.w_enc, self.b_enc, self.w_dec, self.b_dec, "gelu")
        mu, logvar, z2, y2 = ops.variational_bottleneck(h, self.w_enc, self.b_enc, self.w_lv, self.b_lv,
                                                        self.w_dec, self.b_dec, eps, "relu")
        y3 = ops.decode_head(z + z2, self.w_dec, self.b_dec, "tanh")
        return (y * y2 * y3).sum() + mu.sum() + logvar.square().sum()


def test_torch_compile_fullgraph_gives_the_same_results_and_gradients():
    compiled_op_required()
    torch._dynamo.reset()
    # torch's compile caches do not key on a custom op's schema: an artefact compiled against
    # an earlier build of the op (another backward signature) must not stand in for this one.
    with torch._inductor.config.patch(fx_graph_cache=False), \
            torch._functorch.config.patch(enable_autograd_cache=False):
        module = Bottlenecks()
        g = torch.Generator().manual_seed(10)
        h, eps = torch.randn(7, 12, generator=g), torch.randn(7, 3, generator=g)
        eager_loss = module(h, eps)
        eager_grads = torch.autograd.grad(eager_loss, list(module.parameters()))
        compiled = torch.compile(module, fullgraph=True)
        loss = compiled(h, eps)
        grads = torch.autograd.grad(loss, list(module.parameters()))
    torch.testing.assert_close(loss, eager_loss, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, eager_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_reference_backward_functions_match_autograd_of_the_reference():
    """The analytic backward that stands in for CUDA kernels is itself checked."""
    for op, act in itertools.product(OPS, ops.ACTIVATIONS):
        case = make_case(op, 5, 9, 3, act, dtype=torch.float64, seed=11)
        outs, grads, out_grads = outputs_and_grads(case, ref)
        i = {k: v.detach() for k, v in case.inputs.items()}
        if op == "bottleneck":
            got = ref.bottleneck_backward(out_grads[0], out_grads[1], i["h"], i["w_enc"], outs[0], i["w_dec"],
                                          i["b_dec"], act)
            want = [grads[k] for k in ("h", "w_enc", "b_enc", "w_dec", "b_dec")]
        elif op == "decode_head":
            got = ref.decode_head_backward(out_grads[0], i["z"], i["w_dec"], i["b_dec"], act)
            want = [grads[k] for k in ("z", "w_dec", "b_dec")]
        else:
            got = ref.variational_bottleneck_backward(*out_grads, i["h"], i["w_mu"], i["w_logvar"], i["eps"],
                                                      outs[1], outs[2], i["w_dec"], i["b_dec"], act)
            want = [grads[k] for k in ("h", "w_mu", "b_mu", "w_logvar", "b_logvar", "w_dec", "b_dec", "eps")]
        for a, b in zip(got, want):
            assert_close(a, b, torch.float64, "gradient")
