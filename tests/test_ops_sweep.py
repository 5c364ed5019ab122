"""A seeded random sweep: 1,200 combinations of op, shape, dtype, activation, memory
layout and SIMD path against the float64 reference, forward and backward. No crash, no
mismatch."""

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


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_sweep_matches_reference(chunk):
    if ops.backend("cpu") != "cpu":
        pytest.skip(f"compiled op not loaded: {ops.library_status().reason}")
    rng = random.Random(20261127)
    params = [draw(rng) for _ in range(N_CASES)]
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
            try:
                assert_matches_reference(case, ops, p["dtype"])
            except AssertionError as e:
                raise AssertionError(f"case {chunk * per_chunk + k}: {p}\n{e}") from None
    finally:
        torch.ops.aegui.cpu_isa(default_isa)
