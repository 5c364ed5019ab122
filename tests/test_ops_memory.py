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


@pytest.mark.parametrize("batch", [1, 2])
def test_the_backward_gives_its_scratch_memory_back(batch):
    """One training step at H = 4M needs ~130 MB of scratch per thread for the call, not for
    the life of the thread (it was 770 MB, kept)."""
    result = run_probe(f"""
        def step(B, H, Z=1):
            g = torch.Generator().manual_seed(0)
            t = [torch.randn(*s, generator=g).requires_grad_() for s in ((B, H), (Z, H), (Z,), (H, Z), (H,))]
            z, y = ops.bottleneck(*t, activation="gelu")
            (z.sum() + y.sum()).backward()
        step({batch}, 64)  # torch's own first-use allocations, before measuring
        gc.collect()
        before = rss()
        step({batch}, 1 << 22)
        gc.collect()
        print("RESULT" + json.dumps({{"grown_mb": (rss() - before) / 2**20}}))
    """)
    # What may stay: allocator caches of the step's own tensors (16 MB each), not scratch.
    assert result["grown_mb"] < 100, result
