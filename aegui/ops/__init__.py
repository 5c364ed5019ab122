"""The fused bottleneck operator (C++/CUDA, with a pure-PyTorch fallback).

    from aegui import ops
    z, y = ops.bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation="relu")
    mu, logvar, z, y = ops.variational_bottleneck(h, w_mu, b_mu, w_logvar, b_logvar,
                                                  w_dec, b_dec, eps=None, activation="relu")
    y = ops.decode_head(z, w_dec, b_dec, activation="relu")
    ops.backend("cpu")   # "cpu" or "reference": which implementation runs there
    ops.cuda_check()     # how the CUDA kernels fared against the reference at first use
"""

from ._extension import BackendUnavailable
from .bottleneck import (ACTIVATIONS, backend, bottleneck, cuda_check, decode_head, library_status,
                         variational_bottleneck)

__all__ = ["ACTIVATIONS", "BackendUnavailable", "backend", "bottleneck", "cuda_check", "decode_head",
           "library_status", "variational_bottleneck"]
