"""What only a CUDA device can show about the CUDA kernels: latent sizes in every padding
class and beyond 64, a batch of 65,536 rows, the caller's stream (and CUDA graph capture on
a side stream), and torch's deterministic-algorithms switch. All skip without a device; the
kernels' logic is checked without one by test_ops_emulated.py."""

from __future__ import annotations

import pytest
import torch

from aegui import ops

from ops_cases import OPS, assert_close, assert_matches_reference, make_case

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@pytest.fixture(autouse=True)
def cuda_backend():
    if ops.backend("cuda") != "cuda":
        pytest.skip(f"the CUDA kernels are not loaded: {ops.library_status().reason}")


def on_cuda(case):
    case.inputs = {n: t.cuda() for n, t in case.inputs.items()}
    return case


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16],
                         ids=["f32", "f64", "f16", "bf16"])
def test_every_latent_size_class(op, dtype):
    """Z padded to 8, 16, 32 and 64, and Z over 64 in slices, at one row (the small-batch
    path), a partial tile and several tiles."""
    act = "gelu" if dtype in (torch.float16, torch.bfloat16) else "relu"
    for k, Z in enumerate((5, 16, 17, 30, 33, 63, 64, 65, 100, 130)):
        for B in (1, 4, 5, 67, 300):
            case = on_cuda(make_case(op, B, 77, Z, act, dtype, seed=100 * k + B))
            assert_matches_reference(case, ops, dtype)


@pytest.mark.parametrize("op", OPS)
def test_a_batch_of_65536_rows(op):
    """A grid of 1,024 blocks in several waves, with heavy atomic traffic on the weight
    gradients."""
    case = on_cuda(make_case(op, 65536, 256, 16, "silu", torch.float32, seed=1))
    assert_matches_reference(case, ops, torch.float32)


@pytest.mark.parametrize("op", OPS)
def test_runs_on_the_callers_stream(op):
    case = on_cuda(make_case(op, 70, 100, 30, "tanh", torch.float32, seed=2))
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        assert_matches_reference(case, ops, torch.float32)
    torch.cuda.synchronize()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("B", [1, 70])
def test_can_be_captured_in_a_cuda_graph(op, B):
    """Capture runs on a side stream and refuses work on any other: the op's launches, its
    workspace and its memset all go to the current stream."""
    case = on_cuda(make_case(op, B, 100, 100, "silu", torch.float32, seed=3))
    expected = case.call(ops)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = case.call(ops)
    graph.replay()
    torch.cuda.synchronize()
    expected = expected if isinstance(expected, tuple) else (expected,)
    captured = captured if isinstance(captured, tuple) else (captured,)
    for a, b in zip(captured, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("op", OPS)
def test_weight_gradients_raise_under_deterministic_algorithms(op):
    """The weight gradients are summed with float atomics: torch's switch makes that an
    error, as for torch's own atomic kernels. The forward is deterministic."""
    case = on_cuda(make_case(op, 70, 40, 8, "relu", torch.float32, seed=4))
    for v in case.inputs.values():
        v.requires_grad_()
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        first = case.call(ops)
        second = case.call(ops)
        first = first if isinstance(first, tuple) else (first,)
        second = second if isinstance(second, tuple) else (second,)
        for a, b in zip(first, second):
            assert torch.equal(a, b)
        with pytest.raises(RuntimeError, match="aegui"):
            sum(o.sum() for o in first).backward()
    finally:
        torch.use_deterministic_algorithms(was)


def test_half_precision_relu_from_the_stored_latent_code():
    """relu in float16: the decoder is checked from the z the op returns (as the kernels use
    it), so that rounding at the kink is not mistaken for an error."""
    from aegui.ops import _reference as ref

    case = on_cuda(make_case("bottleneck", 67, 90, 30, "relu", torch.float16, seed=5))
    z, y = case.call(ops)
    i = {k: v.double() for k, v in case.inputs.items()}
    assert_close(z, torch.nn.functional.linear(i["h"], i["w_enc"], i["b_enc"]), torch.float16, "z")
    assert_close(y, ref.decode_head(z.double(), i["w_dec"], i["b_dec"], "relu"), torch.float16, "y")


def test_the_kernels_pass_their_check_at_first_use():
    """The fixture's ops.backend("cuda") ran the check against the reference."""
    result = ops.cuda_check()
    assert result.state == "passed", result.detail


@pytest.mark.parametrize("autocast_dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_autocast_runs_the_op_in_the_autocast_dtype(autocast_dtype):
    """As F.linear does: float32 inputs (or float16 activations with float32 weights) run
    in the autocast dtype, and the float32 weights get float32 gradients."""
    case = on_cuda(make_case("bottleneck", 70, 64, 16, "gelu", torch.float32, seed=6))
    h, w_enc, b_enc, w_dec, b_dec = (t.requires_grad_() for t in case.inputs.values())
    for x in (h, h.detach().half()):
        with torch.autocast("cuda", dtype=autocast_dtype):
            z, y = ops.bottleneck(x, w_enc, b_enc, w_dec, b_dec, "gelu")
        assert z.dtype == y.dtype == autocast_dtype
        cast = [t.detach().to(autocast_dtype).double() for t in (x, w_enc, b_enc, w_dec, b_dec)]
        z_ref = torch.nn.functional.linear(cast[0], cast[1], cast[2])
        assert_close(z, z_ref, autocast_dtype, "z under autocast")
        y.float().sum().backward()
        assert w_enc.grad.dtype == torch.float32 and torch.isfinite(w_enc.grad).all()
        w_enc.grad = None
