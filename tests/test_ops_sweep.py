"""A seeded random sweep: 1,200 combinations of op, shape, dtype, activation, memory
layout and SIMD path against the float64 reference, forward and backward. No crash, no
mismatch. On a CUDA device the same sweep runs there too, with float16 and bfloat16 and
latent sizes up to 130."""

from __future__ import annotations

import math
import random

import pytest
import torch

from aegui import ops

from ops_cases import OPS, assert_matches_reference, make_case

N_CASES = 1200
CHUNKS = 6


def log_uniform(rng, lo, hi):
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def draw(rng: random.Random):
    op = rng.choice(OPS)
    B = rng.choice([0, 1, 2, 3]) if rng.random() < 0.15 else log_uniform(rng, 1, 300)
    H = log_uniform(rng, 1, 1100)
    Z = log_uniform(rng, 1, 64)
    # Keep each case small enough for the whole sweep to take seconds, not minutes.
    while B * H * Z > 400_000:
        B = max(1, B // 2)
    return dict(op=op, B=B, H=H, Z=Z, activation=rng.choice(ops.ACTIVATIONS),
                dtype=rng.choice([torch.float32, torch.float64]),
                layout=rng.choice(["contiguous", "contiguous", "transposed", "strided"]),
                with_eps=rng.random() < 0.8, isa=rng.choice(["avx512", "avx2", "generic"]))


def draw_cuda(rng: random.Random):
    """As draw(), then a dtype of the four and Z up to 130 (relu left out in half precision,
    whose rounding of a pre-activation may cross the kink)."""
    p = draw(rng)
    p["dtype"] = rng.choice([torch.float32, torch.float64, torch.float16, torch.bfloat16])
    p["Z"] = log_uniform(rng, 1, 130)
    while p["B"] > 1 and p["B"] * p["H"] * p["Z"] > 400_000:
        p["B"] //= 2
    if p["dtype"] in (torch.float16, torch.bfloat16) and p["activation"] == "relu":
        p["activation"] = rng.choice(["gelu", "silu", "tanh", "identity"])
    return p


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device on this machine"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_sweep_matches_reference(chunk, device):
    if ops.backend(device) != device:
        pytest.skip(f"compiled op not loaded for {device}: {ops.library_status().reason}")
    rng = random.Random(20261127)
    params = [(draw if device == "cpu" else draw_cuda)(rng) for _ in range(N_CASES)]
    default_isa = torch.ops.aegui.cpu_isa("")
    per_chunk = N_CASES // CHUNKS
    try:
        for k, p in enumerate(params[chunk * per_chunk:(chunk + 1) * per_chunk]):
            try:
                torch.ops.aegui.cpu_isa(p["isa"])
            except ValueError:
                torch.ops.aegui.cpu_isa("generic")  # this processor lacks that instruction set
            case = make_case(p["op"], p["B"], p["H"], p["Z"], p["activation"], p["dtype"], seed=k,
                             layout=p["layout"], with_eps=p["with_eps"])
            case.inputs = {n: t.to(device) for n, t in case.inputs.items()}
            try:
                assert_matches_reference(case, ops, p["dtype"])
            except AssertionError as e:
                raise AssertionError(f"case {chunk * per_chunk + k}: {p}\n{e}") from None
    finally:
        torch.ops.aegui.cpu_isa(default_isa)
