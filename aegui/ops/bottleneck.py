"""The fused bottleneck op: its tables and its typed wrappers.

``bottleneck``, ``variational_bottleneck`` and ``decode_head`` are what models, the app
and the tests call. Each is one line that forwards to the implementation chosen on first
use (see ``_extension``): the compiled ``torch.ops.aegui.*`` ops when they load, else the
pure-PyTorch reference. Each op is declared once, by the table below (csrc/op_table.h
holds the same for C++); its fake kernels, reference kernels and dispatch come from the
table (``_op.Op``), and so does their autocast rule. The compiled ops' autograd is
registered in C++ (csrc/autograd.cpp: at small batch sizes a Python autograd.Function would
cost more than the op); their backward is itself a compiled op, asked only for the
gradients autograd needs. The CUDA kernels are checked against the reference the first
time a process uses them (``_trust``), and replaced by it if they disagree.

Double backward (differentiating a gradient built with ``create_graph=True``) raises an
error on the compiled op: its backward kernel has no derivative of its own, and one would
be a second backward implementation to keep exact for something aegui does not use. The
pure-PyTorch reference (``AEGUI_BACKEND=reference``) differentiates twice.
"""

from __future__ import annotations

import threading
import warnings

import torch

from . import _extension, _trust
from . import _reference as ref
from ._op import IF_ACT_FROM_OUTPUT, Op, input_, optional_input, output
from ._reference import ACTIVATIONS

__all__ = ["ACTIVATIONS", "OPS", "backend", "bottleneck", "cuda_check", "decode_head", "variational_bottleneck"]

# ------------------------------------------------------------------------ the tables
# Each op's tensors in schema order; `keep=False`: the backward does not need it.

BOTTLENECK = Op("bottleneck", (
    input_("h", "BH"), input_("w_enc", "ZH"), input_("b_enc", "Z", keep=False),
    input_("w_dec", "HZ"), input_("b_dec", "H"),
    output("z", "BZ"), output("y", "BH", keep=IF_ACT_FROM_OUTPUT),
), ref.bottleneck, ref.bottleneck_backward)

VARIATIONAL_BOTTLENECK = Op("variational_bottleneck", (
    input_("h", "BH"), input_("w_mu", "ZH"), input_("b_mu", "Z", keep=False),
    input_("w_logvar", "ZH"), input_("b_logvar", "Z", keep=False),
    input_("w_dec", "HZ"), input_("b_dec", "H"), optional_input("eps", "BZ"),
    output("mu", "BZ", keep=False), output("logvar", "BZ"), output("z", "BZ"),
    output("y", "BH", keep=IF_ACT_FROM_OUTPUT),
), ref.variational_bottleneck, ref.variational_bottleneck_backward)

DECODE_HEAD = Op("decode_head", (
    input_("z", "BZ"), input_("w_dec", "HZ"), input_("b_dec", "H"),
    output("y", "BH", keep=IF_ACT_FROM_OUTPUT),
), ref.decode_head, ref.decode_head_backward)

OPS = {op.name: op for op in (BOTTLENECK, VARIATIONAL_BOTTLENECK, DECODE_HEAD)}

# ---------------------------------------------------------------------- the wrappers
# At batch size 1 the whole op takes two or three microseconds, so the eager path calls
# the compiled op's C++ entry (``OpOverload._op``) directly, skipping one Python frame;
# while torch.compile traces, the wrappers hand it the OpOverload itself, which it knows
# how to put in a graph.

_is_compiling = torch.compiler.is_compiling


def bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation: str = "relu"):
    """The encoder's last layer, the latent code and the decoder's first layer, fused.

    ``z = h @ w_enc.T + b_enc`` and ``y = act(z @ w_dec.T + b_dec)``. ``h`` is (B, H),
    ``w_enc`` (Z, H), ``w_dec`` (H, Z): the ``nn.Linear`` layout. Returns ``(z, y)``.
    """
    op = BOTTLENECK
    return (op.traced if _is_compiling() else op.eager)(h, w_enc, b_enc, w_dec, b_dec, activation)


def variational_bottleneck(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps=None,
                           activation: str = "relu"):
    """The VAE's bottleneck: ``mu``, ``logvar``, ``z = mu + eps * exp(logvar / 2)``
    (``z = mu`` when ``eps`` is None) and ``y = act(z @ w_dec.T + b_dec)``.
    Returns ``(mu, logvar, z, y)``; ``eps`` (B, Z) is the caller's noise."""
    op = VARIATIONAL_BOTTLENECK
    return (op.traced if _is_compiling() else op.eager)(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps,
                                                          activation)


def decode_head(z, w_dec, b_dec, activation: str = "relu"):
    """The decoder's first layer alone, ``act(z @ w_dec.T + b_dec)``: from a latent code
    that did not come from an encoder (an edited or interpolated one)."""
    op = DECODE_HEAD
    return (op.traced if _is_compiling() else op.eager)(z, w_dec, b_dec, activation)


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


# -------------------------------------------------------------------------- loading

_loaded_status: _extension.LibraryStatus | None = None


def _ensure_loaded() -> _extension.LibraryStatus:
    global _loaded_status
    if _loaded_status is not None:
        return _loaded_status
    st = _extension.status()
    if st.loaded:
        _register_python_side(st)
        gated = st.has_cuda and torch.cuda.is_available()
        for op in OPS.values():
            op.traced = getattr(torch.ops.aegui, op.name).default
            op.compiled = getattr(op.traced, "_op", op.traced)
            op.eager = _gate(op) if gated else op.compiled
    else:
        if st.forced in ("cpu", "cuda"):
            raise _extension.BackendUnavailable(
                f"{_extension.BACKEND_ENV}={st.forced} but the compiled op is unavailable: {st.reason}")
        if st.forced != "reference":
            warnings.warn(f"aegui: running the pure-PyTorch reference of the bottleneck op, "
                          f"because {st.reason}", RuntimeWarning, stacklevel=3)
        for op in OPS.values():
            op.eager = op.traced = op.checked_reference
    if st.forced == "cuda" and not (st.has_cuda and torch.cuda.is_available()):
        why = "no CUDA device is available" if st.has_cuda else "the library was built without CUDA kernels"
        raise _extension.BackendUnavailable(f"{_extension.BACKEND_ENV}=cuda but {why}")
    _loaded_status = st
    return st


for _each in OPS.values():
    _each.loader = _ensure_loaded

# ------------------------------------------------------ trust, but check (CUDA kernels)
# Until the first call with CUDA tensors, the wrappers' implementations are gates that
# look at the first tensor's device (tens of nanoseconds, and only where a GPU is present).
# That call runs the check (_trust.py), then the compiled ops take over again; if the
# kernels disagree with the reference, CUDA tensors are served by the reference from then
# on, through the same dispatcher registrations as a library built without CUDA.

_cuda_trust = _trust.UNCHECKED
_trust_lock = threading.Lock()


def _gate(op: Op):
    compiled = op.compiled

    def gate(first, *rest):
        if isinstance(first, torch.Tensor) and first.is_cuda:  # bad input: the op says what is wrong
            _check_cuda_once()
        return compiled(first, *rest)
    return gate


def _check_cuda_once(check=_trust.check) -> _trust.TrustCheck:
    """Runs the check once per process (later calls return its outcome)."""
    global _cuda_trust
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
        for op in OPS.values():
            op.eager = op.compiled
        return result


# ------------------------------------------------------------ dispatcher registrations

_REGISTERED = False
_REFERENCE_ON_CUDA = False
_LIB: torch.library.Library | None = None


def _serve_cuda_with_reference() -> None:
    """CUDA tensors run the reference: for a library built without CUDA kernels, or whose
    kernels failed their check (their registrations are then overridden, which the
    dispatcher would warn about). The op still dispatches (and compiles, and
    differentiates) the same way on every device."""
    global _REFERENCE_ON_CUDA
    if _REFERENCE_ON_CUDA:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for op in OPS.values():
            torch.library.impl(f"aegui::{op.name}", "CUDA", op.reference_kernel)
            torch.library.impl(f"aegui::{op.name}_backward", "CUDA", op.reference_backward_kernel)
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
    """Fake kernels for every op and backward, the autocast rule, and the reference for
    CUDA tensors where the library has no CUDA kernels."""
    global _REGISTERED, _LIB
    if _REGISTERED:
        return
    _LIB = torch.library.Library("aegui", "IMPL")
    for op in OPS.values():
        torch.library.register_fake(f"aegui::{op.name}")(op.fake)
        torch.library.register_fake(f"aegui::{op.name}_backward")(op.fake_backward)
        _LIB.impl(op.name, _autocast_kernel(getattr(torch.ops.aegui, op.name).default), "AutocastCUDA")
    if not st.has_cuda:
        _serve_cuda_with_reference()
    _REGISTERED = True
