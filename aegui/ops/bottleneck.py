"""The fused bottleneck op: typed wrappers and fake kernels.

``bottleneck``, ``variational_bottleneck`` and ``decode_head`` are what models, the app
and the tests call. Each is one line that forwards to the implementation chosen on first
use (see ``_extension``): the compiled ``torch.ops.aegui.*`` ops when they load, else the
pure-PyTorch reference. The compiled ops get their fake (meta) kernels and their autocast
rule here, in Python; their autograd is registered in C++ (csrc/autograd.cpp: at small
batch sizes a Python autograd.Function would cost more than the op), and their backward is
itself a compiled op. The CUDA kernels are checked against the reference the first time a
process uses them (``_trust``), and replaced by it if they disagree.
"""

from __future__ import annotations

import threading
import warnings

import torch

from . import _checks, _extension, _trust
from . import _reference as ref
from ._reference import ACTIVATIONS

__all__ = ["ACTIVATIONS", "backend", "bottleneck", "cuda_check", "decode_head", "variational_bottleneck"]


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

    The first call loads (and if needed compiles) the library; the first call for a CUDA
    device with a GPU present checks the CUDA kernels (see ``cuda_check``).
    """
    kind = torch.device(device).type
    st = _ensure_loaded()
    if not st.loaded:
        return "reference"
    if kind == "cpu":
        return "cpu"
    if kind == "cuda":
        if not st.has_cuda:
            return "reference"
        if torch.cuda.is_available():
            _check_cuda_once()
        return "reference" if _REFERENCE_ON_CUDA else "cuda"  # the reference: after a failed check
    return "reference"


def cuda_check() -> _trust.TrustCheck:
    """The outcome of the check of the CUDA kernels against the reference at first use:
    state "unchecked", "passed", "failed" or "error", with the worst difference measured
    (or the error) in ``detail``. After "failed" or "error", CUDA tensors run the reference
    (unless AEGUI_BACKEND=cuda, which keeps the kernels and only warns)."""
    return _cuda_trust


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
        for name, overload in (("bottleneck", _traceable_bottleneck), ("variational", _traceable_variational),
                               ("decode_head", _traceable_decode_head)):
            _COMPILED[name] = getattr(overload, "_op", overload)
        gated = st.has_cuda and torch.cuda.is_available()
        _impl_bottleneck = _gate("bottleneck") if gated else _COMPILED["bottleneck"]
        _impl_variational = _gate("variational") if gated else _COMPILED["variational"]
        _impl_decode_head = _gate("decode_head") if gated else _COMPILED["decode_head"]
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


# ------------------------------------------------------ trust, but check (CUDA kernels)
# Until the first call with CUDA tensors, the wrappers' implementations are gates that
# look at the first tensor's device (tens of nanoseconds, and only where a GPU is present).
# That call runs the check (_trust.py), then the compiled ops take over again; if the
# kernels disagree with the reference, CUDA tensors are served by the reference from then
# on, through the same dispatcher registrations as a library built without CUDA.

_COMPILED: dict = {}  # "bottleneck", "variational", "decode_head" -> the compiled op's entry
_cuda_trust = _trust.UNCHECKED
_trust_lock = threading.Lock()


def _gate(name: str):
    def gate(first, *rest):
        if isinstance(first, torch.Tensor) and first.is_cuda:  # bad input: the op says what is wrong
            _check_cuda_once()
        return _COMPILED[name](first, *rest)
    return gate


def _check_cuda_once(check=_trust.check) -> _trust.TrustCheck:
    """Runs the check once per process (later calls return its outcome)."""
    global _cuda_trust, _impl_bottleneck, _impl_variational, _impl_decode_head
    with _trust_lock:
        if _cuda_trust.state != "unchecked":
            return _cuda_trust
        result = check("cuda")
        if not result.passed:
            kept = _extension.forced_backend() == "cuda"  # forced: the user asked for these kernels
            if not kept:
                _serve_cuda_with_reference()
            then = (f"{_extension.BACKEND_ENV}=cuda keeps them" if kept
                    else "CUDA tensors now run the pure-PyTorch reference")
            warnings.warn(f"aegui: the CUDA kernels disagree with the reference on this GPU ({result.detail}); "
                          f"{then}", RuntimeWarning, stacklevel=4)
        _cuda_trust = result
        _impl_bottleneck = _COMPILED["bottleneck"]
        _impl_variational = _COMPILED["variational"]
        _impl_decode_head = _COMPILED["decode_head"]
        return result


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
_REFERENCE_ON_CUDA = False
_LIB: torch.library.Library | None = None


def _serve_cuda_with_reference() -> None:
    """CUDA tensors run the reference: for a library built without CUDA kernels, or whose
    kernels failed their check (their registrations are then overridden, which the
    dispatcher would warn about)."""
    global _REFERENCE_ON_CUDA
    if _REFERENCE_ON_CUDA:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in (("bottleneck", _ref_bottleneck_cuda),
                         ("bottleneck_backward", _ref_bottleneck_backward_cuda),
                         ("variational_bottleneck", _ref_variational_cuda),
                         ("variational_bottleneck_backward", _ref_variational_backward_cuda),
                         ("decode_head", _ref_decode_head_cuda),
                         ("decode_head_backward", _ref_decode_head_backward_cuda)):
            torch.library.impl(f"aegui::{name}", "CUDA", fn)
    _REFERENCE_ON_CUDA = True


def _autocast_kernel(overload):
    """Under torch.autocast("cuda"), the op runs in the autocast dtype, as F.linear does:
    floating-point CUDA inputs other than float64 are cast to it, then the op runs with
    autocast off. (Activations in float16 with float32 weights would otherwise be refused
    as mixed dtypes.)"""
    def kernel(*args):
        dtype = torch.get_autocast_dtype("cuda")
        cast = [a.to(dtype) if isinstance(a, torch.Tensor) and a.is_cuda and a.is_floating_point()
                and a.dtype != torch.float64 else a for a in args]
        with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.AutocastCUDA)):
            return overload(*cast)
    return kernel


def _register_python_side(st: _extension.LibraryStatus) -> None:
    global _REGISTERED, _LIB
    if _REGISTERED:
        return
    reg_fake = torch.library.register_fake
    reg_fake("aegui::bottleneck")(_fake_bottleneck)
    reg_fake("aegui::bottleneck_backward")(_fake_bottleneck_backward)
    reg_fake("aegui::variational_bottleneck")(_fake_variational)
    reg_fake("aegui::variational_bottleneck_backward")(_fake_variational_backward)
    reg_fake("aegui::decode_head")(_fake_decode_head)
    reg_fake("aegui::decode_head_backward")(_fake_decode_head_backward)
    _LIB = torch.library.Library("aegui", "IMPL")
    for name in ("bottleneck", "variational_bottleneck", "decode_head"):
        _LIB.impl(name, _autocast_kernel(getattr(torch.ops.aegui, name).default), "AutocastCUDA")
    if not st.has_cuda:
        _serve_cuda_with_reference()
    _REGISTERED = True
