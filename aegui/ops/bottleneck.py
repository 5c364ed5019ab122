"""The fused bottleneck op: typed wrappers and fake kernels.

``bottleneck``, ``variational_bottleneck`` and ``decode_head`` are what models, the app
and the tests call. Each is one line that forwards to the implementation chosen on first
use (see ``_extension``): the compiled ``torch.ops.aegui.*`` ops when they load, else the
pure-PyTorch reference. The compiled ops get their fake (meta) kernels here, in Python;
their autograd is registered in C++ (csrc/autograd.cpp: at small batch sizes a Python
autograd.Function would cost more than the op), and their backward is itself a compiled op.
"""

from __future__ import annotations

import warnings

import torch

from . import _checks, _extension
from . import _reference as ref
from ._reference import ACTIVATIONS

__all__ = ["ACTIVATIONS", "backend", "bottleneck", "decode_head", "variational_bottleneck"]


def bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation: str = "relu"):
    """The encoder's last layer, the latent code and the decoder's first layer, fused.

    ``z = h @ w_enc.T + b_enc`` and ``y = act(z @ w_dec.T + b_dec)``. ``h`` is (B, H),
    ``w_enc`` (Z, H), ``w_dec`` (H, Z): the ``nn.Linear`` layout. Returns ``(z, y)``.
    """
    impl = _traceable_bottleneck if _is_compiling() else _impl_bottleneck
    return impl(h, w_enc, b_enc, w_dec, b_dec, activation)


def variational_bottleneck(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps=None,
                           activation: str = "relu"):
    """The VAE's bottleneck: ``mu``, ``logvar``, ``z = mu + eps * exp(logvar / 2)``
    (``z = mu`` when ``eps`` is None) and ``y = act(z @ w_dec.T + b_dec)``.
    Returns ``(mu, logvar, z, y)``; ``eps`` (B, Z) is the caller's noise."""
    impl = _traceable_variational if _is_compiling() else _impl_variational
    return impl(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation)


def decode_head(z, w_dec, b_dec, activation: str = "relu"):
    """The decoder's first layer alone, ``act(z @ w_dec.T + b_dec)``: from a latent code
    that did not come from an encoder (an edited or interpolated one)."""
    impl = _traceable_decode_head if _is_compiling() else _impl_decode_head
    return impl(z, w_dec, b_dec, activation)


def backend(device: str | torch.device = "cpu") -> str:
    """Which implementation runs for tensors on ``device``: "cpu", "cuda" or "reference".

    The first call loads (and if needed compiles) the library.
    """
    kind = torch.device(device).type
    st = _ensure_loaded()
    if not st.loaded:
        return "reference"
    if kind == "cpu":
        return "cpu"
    if kind == "cuda":
        return "cuda" if st.has_cuda else "reference"
    return "reference"


def library_status() -> _extension.LibraryStatus:
    """How the compiled library was loaded, or why it was not."""
    return _ensure_loaded()


# --------------------------------------------------------------------------- dispatch
# The module globals below start as loaders and are replaced on first use by the chosen
# implementation. At batch size 1 the whole op takes two or three microseconds, so the
# eager path calls the compiled op's C++ entry (``OpOverload._op``) directly, skipping one
# Python frame; while torch.compile traces, the wrappers hand it the OpOverload itself,
# which it knows how to put in a graph.

_is_compiling = torch.compiler.is_compiling


def _checked_reference_bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation):
    _checks.check_bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation)
    return ref.bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation)


def _checked_reference_variational(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation):
    _checks.check_variational(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation)
    return ref.variational_bottleneck(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation)


def _checked_reference_decode_head(z, w_dec, b_dec, activation):
    _checks.check_decode_head(z, w_dec, b_dec, activation)
    return ref.decode_head(z, w_dec, b_dec, activation)


def _load_then_bottleneck(*args):
    _ensure_loaded()
    return _impl_bottleneck(*args)


def _load_then_variational(*args):
    _ensure_loaded()
    return _impl_variational(*args)


def _load_then_decode_head(*args):
    _ensure_loaded()
    return _impl_decode_head(*args)


_impl_bottleneck = _traceable_bottleneck = _load_then_bottleneck
_impl_variational = _traceable_variational = _load_then_variational
_impl_decode_head = _traceable_decode_head = _load_then_decode_head
_loaded_status: _extension.LibraryStatus | None = None


def _ensure_loaded() -> _extension.LibraryStatus:
    global _impl_bottleneck, _impl_variational, _impl_decode_head, _loaded_status
    global _traceable_bottleneck, _traceable_variational, _traceable_decode_head
    if _loaded_status is not None:
        return _loaded_status
    st = _extension.status()
    if st.loaded:
        _register_python_side(st)
        _traceable_bottleneck = torch.ops.aegui.bottleneck.default
        _traceable_variational = torch.ops.aegui.variational_bottleneck.default
        _traceable_decode_head = torch.ops.aegui.decode_head.default
        _impl_bottleneck = getattr(_traceable_bottleneck, "_op", _traceable_bottleneck)
        _impl_variational = getattr(_traceable_variational, "_op", _traceable_variational)
        _impl_decode_head = getattr(_traceable_decode_head, "_op", _traceable_decode_head)
    else:
        if st.forced in ("cpu", "cuda"):
            raise _extension.BackendUnavailable(
                f"{_extension.BACKEND_ENV}={st.forced} but the compiled op is unavailable: {st.reason}")
        if st.forced != "reference":
            warnings.warn(f"aegui: running the pure-PyTorch reference of the bottleneck op, "
                          f"because {st.reason}", RuntimeWarning, stacklevel=3)
        _impl_bottleneck = _traceable_bottleneck = _checked_reference_bottleneck
        _impl_variational = _traceable_variational = _checked_reference_variational
        _impl_decode_head = _traceable_decode_head = _checked_reference_decode_head
    if st.forced == "cuda" and not (st.has_cuda and torch.cuda.is_available()):
        why = "no CUDA device is available" if st.has_cuda else "the library was built without CUDA kernels"
        raise _extension.BackendUnavailable(f"{_extension.BACKEND_ENV}=cuda but {why}")
    _loaded_status = st
    return st


# ---------------------------------------------------------- fake kernels and autograd


# Defaults mirror the schemas': the dispatcher may drop an argument equal to its default.
# The fake kernels check their inputs too: they are what runs for meta tensors, and an input
# on another device than the rest must fail there as it fails on a real device.
def _fake_bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation="relu"):
    _checks.check_bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation)
    return h.new_empty(h.shape[0], w_enc.shape[0]), h.new_empty(h.shape[0], w_dec.shape[0])


def _fake_bottleneck_backward(grad_z, grad_y, h, w_enc, z, y, w_dec, b_dec, activation):
    return (torch.empty_like(h), torch.empty_like(w_enc), w_enc.new_empty(w_enc.shape[0]),
            torch.empty_like(w_dec), torch.empty_like(b_dec))


def _fake_variational(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps=None, activation="relu"):
    _checks.check_variational(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation)
    B, Z = h.shape[0], w_mu.shape[0]
    return h.new_empty(B, Z), h.new_empty(B, Z), h.new_empty(B, Z), h.new_empty(B, w_dec.shape[0])


def _fake_variational_backward(grad_mu, grad_logvar, grad_z, grad_y, h, w_mu, w_logvar, eps, logvar, z, y,
                               w_dec, b_dec, activation):
    Z = w_mu.shape[0]
    return (torch.empty_like(h), torch.empty_like(w_mu), w_mu.new_empty(Z), torch.empty_like(w_logvar),
            w_logvar.new_empty(Z), torch.empty_like(z), torch.empty_like(w_dec), torch.empty_like(b_dec))


def _fake_decode_head(z, w_dec, b_dec, activation="relu"):
    _checks.check_decode_head(z, w_dec, b_dec, activation)
    return z.new_empty(z.shape[0], w_dec.shape[0])


def _fake_decode_head_backward(grad_y, z, y, w_dec, b_dec, activation):
    return torch.empty_like(z), torch.empty_like(w_dec), torch.empty_like(b_dec)


# Reference kernels stand in for CUDA when the library was built without CUDA: the op
# still dispatches (and compiles, and differentiates) the same way on every device.
def _ref_bottleneck_cuda(h, w_enc, b_enc, w_dec, b_dec, activation="relu"):
    _checks.check_bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation)
    with torch.no_grad():
        z, y = ref.bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation)
    return z, y


def _ref_bottleneck_backward_cuda(grad_z, grad_y, h, w_enc, z, y, w_dec, b_dec, activation):
    return ref.bottleneck_backward(grad_z, grad_y, h, w_enc, z, w_dec, b_dec, activation)


def _ref_variational_cuda(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps=None, activation="relu"):
    _checks.check_variational(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation)
    with torch.no_grad():
        return ref.variational_bottleneck(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation)


def _ref_variational_backward_cuda(grad_mu, grad_logvar, grad_z, grad_y, h, w_mu, w_logvar, eps, logvar, z, y,
                                   w_dec, b_dec, activation):
    out = list(ref.variational_bottleneck_backward(grad_mu, grad_logvar, grad_z, grad_y, h, w_mu, w_logvar,
                                                   eps, logvar, z, w_dec, b_dec, activation))
    if out[5] is None:
        out[5] = torch.zeros_like(z)
    return tuple(out)


def _ref_decode_head_cuda(z, w_dec, b_dec, activation="relu"):
    _checks.check_decode_head(z, w_dec, b_dec, activation)
    with torch.no_grad():
        return ref.decode_head(z, w_dec, b_dec, activation)


def _ref_decode_head_backward_cuda(grad_y, z, y, w_dec, b_dec, activation):
    return ref.decode_head_backward(grad_y, z, w_dec, b_dec, activation)


_REGISTERED = False


def _register_python_side(st: _extension.LibraryStatus) -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    reg_fake = torch.library.register_fake
    reg_fake("aegui::bottleneck")(_fake_bottleneck)
    reg_fake("aegui::bottleneck_backward")(_fake_bottleneck_backward)
    reg_fake("aegui::variational_bottleneck")(_fake_variational)
    reg_fake("aegui::variational_bottleneck_backward")(_fake_variational_backward)
    reg_fake("aegui::decode_head")(_fake_decode_head)
    reg_fake("aegui::decode_head_backward")(_fake_decode_head_backward)
    if not st.has_cuda:
        for name, fn in (("bottleneck", _ref_bottleneck_cuda),
                         ("bottleneck_backward", _ref_bottleneck_backward_cuda),
                         ("variational_bottleneck", _ref_variational_cuda),
                         ("variational_bottleneck_backward", _ref_variational_backward_cuda),
                         ("decode_head", _ref_decode_head_cuda),
                         ("decode_head_backward", _ref_decode_head_backward_cuda)):
            torch.library.impl(f"aegui::{name}", "CUDA", fn)
    _REGISTERED = True
