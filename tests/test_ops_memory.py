"""The op's memory: what it allocates is bounded by the work it does and is given back.

Each case runs in a fresh interpreter, so that what it measures is not blurred by what other
tests left in this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")

PRELUDE = """
import gc, json, os, resource, torch
from aegui import ops
if ops.backend("cpu") != "cpu":
    print("RESULT" + json.dumps({"skip": ops.library_status().reason}))
    raise SystemExit
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
def vm_size():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
"""


def run_probe(body: str) -> dict:
    code = PRELUDE + textwrap.dedent(body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEGUI_")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT")]
    assert lines, f"probe failed (rc {done.returncode}):\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT"):])
    if "skip" in result:
        pytest.skip(f"the compiled op is not loaded: {result['skip']}")
    return result


def test_the_backward_gives_its_scratch_memory_back():
    """One training step at H = 4M needs ~130 MB of scratch per thread for the call, not for
    the life of the thread (it was 770 MB, kept). One row runs on the calling thread, two
    on two threads."""
    result = run_probe("""
        def step(B, H, Z=1):
            g = torch.Generator().manual_seed(0)
            t = [torch.randn(*s, generator=g).requires_grad_() for s in ((B, H), (Z, H), (Z,), (H, Z), (H,))]
            z, y = ops.bottleneck(*t, activation="gelu")
            (z.sum() + y.sum()).backward()
        grown = {}
        for B in (1, 2):
            step(B, 64)  # torch's own first-use allocations, before measuring
            gc.collect()
            before = rss()
            step(B, 1 << 22)
            gc.collect()
            grown[B] = (rss() - before) / 2**20
        print("RESULT" + json.dumps({"grown_mb": grown}))
    """)
    # What may stay: allocator caches of the step's own tensors (16 MB each), not scratch.
    for batch, grown_mb in result["grown_mb"].items():
        assert grown_mb < 100, f"batch {batch}: {grown_mb:.0f} MB more resident after one step"


def test_an_empty_batch_allocates_nothing_from_declared_sizes():
    """Weights of a declared H = 2^31 + 1 that are stride-0 views of one number: with no rows
    there is no work, and the op returns empty outputs at once as the reference does, instead
    of making the weights contiguous (8.6 GB each). The probe runs under an address-space
    limit of 1 GiB above what it has mapped, so such an allocation fails instead of swapping."""
    result = run_probe("""
        H, Z = 2**31 + 1, 2
        def wide(*shape):
            return torch.zeros(1, requires_grad=True).expand(*shape)
        h, z_in, eps = torch.empty(0, H), torch.empty(0, Z), torch.empty(0, Z)
        ops.bottleneck(torch.randn(2, 3), torch.randn(2, 3), torch.randn(2), torch.randn(3, 2), torch.randn(3))
        resource.setrlimit(resource.RLIMIT_AS, (vm_size() + 2**30, resource.RLIM_INFINITY))
        shapes, errors = {}, []
        for name, call in {
            "bottleneck": lambda: ops.bottleneck(h, wide(Z, H), wide(Z), wide(H, Z), wide(H)),
            "variational_bottleneck": lambda: ops.variational_bottleneck(
                h, wide(Z, H), wide(Z), wide(Z, H), wide(Z), wide(H, Z), wide(H), eps),
            "decode_head": lambda: (ops.decode_head(z_in, wide(H, Z), wide(H)),),
        }.items():
            for grad in (False, True):
                try:
                    with torch.set_grad_enabled(grad):
                        shapes[f"{name} grad={grad}"] = [list(t.shape) for t in call()]
                except Exception as e:
                    errors.append(f"{name} grad={grad}: {type(e).__name__}: {str(e)[:200]}")
        print("RESULT" + json.dumps({"shapes": shapes, "errors": errors}))
    """)
    assert result["errors"] == []
    H, Z = 2**31 + 1, 2
    for grad in (False, True):
        assert result["shapes"][f"bottleneck grad={grad}"] == [[0, Z], [0, H]]
        assert result["shapes"][f"variational_bottleneck grad={grad}"] == [[0, Z]] * 3 + [[0, H]]
        assert result["shapes"][f"decode_head grad={grad}"] == [[0, H]]
