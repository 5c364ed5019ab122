"""Pure-PyTorch twin of the fused bottleneck op: the fallback and the test oracle.

Written straight from the definition with ``F.linear`` so that a reader can check it by
eye; the compiled kernels are tested against it. The ``*_backward`` functions are the
analytic gradients that the compiled backward ops compute, in plain PyTorch, returned in
the order of the op's inputs; they are themselves tested against autograd of the forward
functions here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "identity")

# How close the compiled kernels must come to this reference computed in float64:
# |a - b| <= rtol*|b| + atol*(1 + max|b|). The absolute part scales with the tensor's
# largest value because a weight gradient is a sum over the batch that can cancel to near
# zero while its terms are large; rounding is relative to the terms, not to the sum.
# float16 and bfloat16 (CUDA only) are bounded by the rounding of their outputs (2^-11,
# 2^-8 relative); the kernels accumulate in float32. Used by the tests and by the check
# of the CUDA kernels at first use (_trust.py).
TOLERANCE = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-10),
             torch.float16: dict(rtol=1e-2, atol=2e-3), torch.bfloat16: dict(rtol=4e-2, atol=1.5e-2)}


def check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation: unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}"
        )


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "relu":
        return F.relu(x)
    if activation == "gelu":
        return F.gelu(x)  # the exact erf form
    if activation == "silu":
        return F.silu(x)
    if activation == "tanh":
        return torch.tanh(x)
    if activation == "identity":
        return x
    check_activation(activation)
    raise AssertionError("unreachable")


def activation_grad(pre: torch.Tensor, activation: str) -> torch.Tensor:
    """d act(pre) / d pre, elementwise."""
    if activation == "relu":
        return (~(pre <= 0)).to(pre.dtype)  # 1 at NaN: torch's relu passes the gradient on
    if activation == "gelu":
        cdf = 0.5 * (1.0 + torch.erf(pre * (1.0 / math.sqrt(2.0))))
        pdf = torch.exp(-0.5 * pre * pre) * (1.0 / math.sqrt(2.0 * math.pi))
        return cdf + pre * pdf
    if activation == "silu":
        s = torch.sigmoid(pre)
        return s * (1.0 + pre * (1.0 - s))
    if activation == "tanh":
        t = torch.tanh(pre)
        return 1.0 - t * t
    if activation == "identity":
        return torch.ones_like(pre)
    check_activation(activation)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- forward


def decode_head(z, w_dec, b_dec, activation="relu"):
    check_activation(activation)
    return activate(F.linear(z, w_dec, b_dec), activation)


def bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation="relu"):
    check_activation(activation)
    z = F.linear(h, w_enc, b_enc)
    return z, decode_head(z, w_dec, b_dec, activation)


def variational_bottleneck(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps=None,
                           activation="relu"):
    check_activation(activation)
    mu = F.linear(h, w_mu, b_mu)
    logvar = F.linear(h, w_logvar, b_logvar)
    z = mu if eps is None else mu + eps * torch.exp(0.5 * logvar)
    # z must not alias mu: the two are separate outputs of the op.
    z = z.clone() if eps is None else z
    return mu, logvar, z, decode_head(z, w_dec, b_dec, activation)


# --------------------------------------------------------------------------- backward


def _zeros_if_none(g, like):
    return torch.zeros_like(like) if g is None else g


def decode_head_backward(grad_y, z, w_dec, b_dec, activation):
    """Returns (grad_z, grad_w_dec, grad_b_dec)."""
    pre = F.linear(z, w_dec, b_dec)
    grad_y = _zeros_if_none(grad_y, pre)
    g_pre = grad_y * activation_grad(pre, activation)
    return g_pre @ w_dec, g_pre.t() @ z, g_pre.sum(0)


def bottleneck_backward(grad_z, grad_y, h, w_enc, z, w_dec, b_dec, activation):
    """Returns (grad_h, grad_w_enc, grad_b_enc, grad_w_dec, grad_b_dec)."""
    g_z, g_w_dec, g_b_dec = decode_head_backward(grad_y, z, w_dec, b_dec, activation)
    if grad_z is not None:
        g_z = g_z + grad_z
    return g_z @ w_enc, g_z.t() @ h, g_z.sum(0), g_w_dec, g_b_dec


def variational_bottleneck_backward(grad_mu, grad_logvar, grad_z, grad_y, h, w_mu, w_logvar,
                                    eps, logvar, z, w_dec, b_dec, activation):
    """Returns (grad_h, grad_w_mu, grad_b_mu, grad_w_logvar, grad_b_logvar, grad_w_dec,
    grad_b_dec, grad_eps), the inputs' order; grad_eps is None when eps is None."""
    g_z, g_w_dec, g_b_dec = decode_head_backward(grad_y, z, w_dec, b_dec, activation)
    if grad_z is not None:
        g_z = g_z + grad_z
    g_mu = g_z if grad_mu is None else g_z + grad_mu
    g_lv = torch.zeros_like(logvar) if grad_logvar is None else grad_logvar
    g_eps = None
    if eps is not None:
        std = torch.exp(0.5 * logvar)
        g_lv = g_lv + g_z * eps * 0.5 * std
        g_eps = g_z * std
    g_h = g_mu @ w_mu + g_lv @ w_logvar
    return (g_h, g_mu.t() @ h, g_mu.sum(0), g_lv.t() @ h, g_lv.sum(0), g_w_dec, g_b_dec,
            g_eps)
