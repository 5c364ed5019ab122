"""NaN and infinity go through the op as they go through its reference, on every CPU code
path: the vector paths approximate exp, erf and tanh with polynomials, and a polynomial
clamped to a finite range would turn NaN into a number and infinity into a large finite
value. Forward and backward, every activation, and the VAE's z = mu + eps * exp(logvar / 2).

The reference runs in the op's own dtype here (not float64): whether exp(89) overflows is a
property of float32, and the op must overflow where float32 does.
"""

from __future__ import annotations

import math

import pytest
import torch

from aegui import ops
from aegui.ops import _reference as ref

from ops_cases import compiled_op_required, cpu_isa  # noqa: F401  (cpu_isa is a fixture)

INF, NAN = math.inf, math.nan
# Pre-activations at and around the places where an approximation can go wrong: NaN, the
# infinities, signed zero, denormals, where float32 exp overflows (88.72) and underflows
# (-87.3, -103.9), where tanh and erf saturate, and ordinary values.
SPECIAL = [NAN, INF, -INF, 0.0, -0.0, 1e-40, -1e-40, 1e-30, 0.5, -0.5, 3.0, -3.0, 9.5, -9.5, 20.0, -20.0,
           88.5, -88.5, 89.0, -89.0, 100.0, -100.0, 104.0, -104.0, 200.0, -200.0, 1e30, -1e30]
# log-variances: exp(logvar / 2) overflows float32 from logvar = 177.45 on. None just
# below it: there a sum of finite products overflows or not depending on the order of
# the additions, which no two implementations need share.
LOGVARS = [NAN, INF, -INF, 0.0, 1.0, -1.0, 160.0, 178.0, 200.0, 300.0, -200.0, -300.0, 1e30]
BATCHES = (1, 9, 40)  # one row; past the size where the kernels switch to transposed weights


def assert_same(a, b, what):
    """Equal NaN pattern, equal infinities, finite values within float32 rounding."""
    assert a.dtype == b.dtype, what
    torch.testing.assert_close(a, b, rtol=2e-4, atol=1e-6, equal_nan=True, msg=lambda m: f"{what}: {m}")


def run(namespace, op, inputs, activation, out_grads=None):
    """Outputs of namespace.<op> and the gradients of every input, for out_grads on every output."""
    leaves = {k: v.detach().clone().requires_grad_(v.dtype.is_floating_point) for k, v in inputs.items()}
    outs = getattr(namespace, op)(*leaves.values(), activation=activation)
    outs = outs if isinstance(outs, tuple) else (outs,)
    if out_grads is None:
        g = torch.Generator().manual_seed(5)
        out_grads = [torch.randn(o.shape, generator=g, dtype=o.dtype) for o in outs]
    torch.autograd.backward(outs, out_grads)
    return [o.detach() for o in outs], {k: v.grad for k, v in leaves.items()}, out_grads


def compare(op, inputs, activation):
    outs, grads, out_grads = run(ops, op, inputs, activation)
    want_outs, want_grads, _ = run(ref, op, inputs, activation, out_grads)
    for k, (a, b) in enumerate(zip(outs, want_outs)):
        assert_same(a, b, f"{op} {activation} output {k}")
    for name in grads:
        assert_same(grads[name], want_grads[name], f"{op} {activation} gradient of {name}")


def special_row(repeat=3):
    """The special values repeated so that each lands at several positions of a vector
    (full vectors and the masked tail alike)."""
    return torch.tensor(SPECIAL * repeat, dtype=torch.float32)


@pytest.mark.parametrize("B", BATCHES)
@pytest.mark.parametrize("activation", ops.ACTIVATIONS)
def test_activations_of_special_values_match_the_reference(cpu_isa, activation, B):
    """decode_head with zero weights: the pre-activation is exactly the bias."""
    compiled_op_required()
    b_dec = special_row()
    g = torch.Generator().manual_seed(1)
    inputs = dict(z=torch.randn(B, 5, generator=g), w_dec=torch.zeros(b_dec.numel(), 5), b_dec=b_dec)
    compare("decode_head", inputs, activation)


@pytest.mark.parametrize("B", BATCHES)
@pytest.mark.parametrize("activation", ["relu", "tanh", "silu"])
def test_special_values_through_the_plain_bottleneck(cpu_isa, activation, B):
    """The same through the encoder: NaN and infinity in h reach z and y as in the reference."""
    compiled_op_required()
    g = torch.Generator().manual_seed(2)
    H, Z = 21, 3
    h = torch.randn(B, H, generator=g)
    h[0, 3], h[-1, 7], h[B // 2, 11] = NAN, INF, -INF
    inputs = dict(h=h, w_enc=torch.randn(Z, H, generator=g) * 0.3, b_enc=torch.randn(Z, generator=g),
                  w_dec=torch.randn(H, Z, generator=g), b_dec=torch.randn(H, generator=g))
    compare("bottleneck", inputs, activation)


@pytest.mark.parametrize("B", BATCHES)
@pytest.mark.parametrize("activation", ["relu", "gelu", "identity"])
def test_vae_terms_of_special_log_variances_match_the_reference(cpu_isa, activation, B):
    """logvar is exactly the bias: NaN gives a NaN z, logvar >= 178 an infinite one, -inf
    gives z = mu, in float32 as in the reference."""
    compiled_op_required()
    g = torch.Generator().manual_seed(3)
    b_logvar = torch.tensor(LOGVARS, dtype=torch.float32)
    Z, H = b_logvar.numel(), 6
    eps = torch.randn(B, Z, generator=g)
    eps[0, :] = 1.0
    inputs = dict(h=torch.randn(B, H, generator=g), w_mu=torch.zeros(Z, H), b_mu=torch.full((Z,), 0.5),
                  w_logvar=torch.zeros(Z, H), b_logvar=b_logvar, w_dec=torch.randn(H, Z, generator=g) * 0.1,
                  b_dec=torch.zeros(H), eps=eps)
    compare("variational_bottleneck", inputs, activation)


def test_the_named_defects_are_gone(cpu_isa):
    """The cases found by the attack on the AVX2 path, spelled out."""
    compiled_op_required()
    one = torch.ones(1, 1)

    def act(x, activation):
        return ops.decode_head(one, torch.zeros(1, 1), torch.tensor([x]), activation)[0, 0].item()

    assert math.isnan(act(NAN, "tanh"))
    assert math.isnan(act(-INF, "silu"))
    assert act(INF, "tanh") == 1.0 and act(-INF, "tanh") == -1.0
    for logvar, check in ((NAN, math.isnan), (200.0, lambda z: z == INF)):
        z = ops.variational_bottleneck(one, torch.zeros(1, 1), torch.zeros(1), torch.zeros(1, 1),
                                       torch.tensor([logvar]), torch.ones(1, 1), torch.zeros(1), one)[2]
        assert check(z.item()), (logvar, z.item())
