"""Trust, but check at first use: the compiled kernels are compared with the reference on
small fixed inputs; the first use of the CUDA backend runs that check, and a mismatch makes
CUDA tensors run the reference, with one warning that gives the measured difference.

The check itself runs here on the CPU kernels; the switch-over is exercised in a fresh
interpreter that is told its library carries CUDA kernels, with a check whose comparison
is forced to fail (no GPU needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from aegui import ops
from aegui.ops import _trust


@pytest.fixture(autouse=True)
def compiled_op():
    if ops.backend("cpu") != "cpu":
        pytest.skip(f"the compiled op is not loaded: {ops.library_status().reason}")


def test_the_cpu_kernels_pass_the_check():
    result = _trust.check("cpu")
    assert result.state == "passed", result.detail
    assert "times its tolerance" in result.detail


def test_a_forced_mismatch_fails_the_check_and_reports_its_size():
    result = _trust.check("cpu", compare=lambda actual, expected, dtype: 2.5)
    assert result.state == "failed"
    assert "2.5 times its tolerance" in result.detail


def test_a_nan_is_a_mismatch():
    result = _trust.check("cpu", compare=lambda actual, expected, dtype: float("nan"))
    assert result.state == "failed"


def test_a_kernel_that_raises_is_an_error():
    def broken(actual, expected, dtype):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    result = _trust.check("cpu", compare=broken)
    assert result.state == "error" and "illegal memory access" in result.detail


def test_the_tolerance_ratio_measures_against_the_documented_tolerance():
    expected = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
    bound = 1e-4 * expected.abs() + 1e-5 * 3.0  # float32: rtol 1e-4, atol 1e-5 * (1 + max|b|)
    assert _trust.tolerance_ratio(expected.float(), expected, torch.float32) == 0.0
    at_twice = expected + 2 * bound
    assert _trust.tolerance_ratio(at_twice, expected, torch.float32) == pytest.approx(2.0)


def test_autocast_rules_are_registered_for_cuda():
    for name in ("bottleneck", "variational_bottleneck", "decode_head"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"aegui::{name}", "AutocastCUDA")


SWITCH = """
import dataclasses, importlib, json, warnings
import torch
from aegui.ops import _extension, _trust
B = importlib.import_module("aegui.ops.bottleneck")  # the module (the package exports a function of that name)
# As if the library carried CUDA kernels and a GPU were present.
_extension._status = dataclasses.replace(_extension.status(), has_cuda=True)
torch.cuda.is_available = lambda: True
from aegui import ops
out = {{}}
h, we, be, wd, bd = torch.randn(3, 5), torch.randn(2, 5), torch.randn(2), torch.randn(5, 2), torch.randn(5)
ops.bottleneck(h, we, be, wd, bd)  # CPU tensors pass the gate without a check
out["after_cpu_use"] = ops.cuda_check().state
out["gated"] = B.BOTTLENECK.eager is not B.BOTTLENECK.compiled
out["cuda_kernel_before"] = torch._C._dispatch_has_kernel_for_dispatch_key("aegui::bottleneck", "CUDA")
check = lambda device: _trust.check("cpu", {compare})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    B._check_cuda_once(check)
    B._check_cuda_once(check)
    out["backend"] = ops.backend("cuda")
out["warnings"] = [str(w.message) for w in caught]
out["state"], out["detail"] = ops.cuda_check().state, ops.cuda_check().detail
out["ungated"] = B.BOTTLENECK.eager is B.BOTTLENECK.compiled
out["cuda_kernel_after"] = torch._C._dispatch_has_kernel_for_dispatch_key("aegui::bottleneck", "CUDA")
print("RESULT" + json.dumps(out))
"""


def run_switch(compare: str, env_extra=None) -> dict:
    code = textwrap.dedent(SWITCH.format(compare=compare))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEGUI_")}
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT")]
    assert lines, f"probe crashed (rc {done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT"):])


def test_cuda_kernels_that_fail_their_check_are_replaced_by_the_reference():
    out = run_switch("compare=lambda a, b, dtype: 3.0")
    assert out["after_cpu_use"] == "unchecked" and out["gated"]
    assert not out["cuda_kernel_before"]
    assert out["state"] == "failed" and "3 times its tolerance" in out["detail"]
    assert len(out["warnings"]) == 1, out["warnings"]  # once, however often asked
    assert "3 times its tolerance" in out["warnings"][0] and "reference" in out["warnings"][0]
    assert out["backend"] == "reference"
    assert out["cuda_kernel_after"]  # the dispatcher now sends CUDA tensors to the reference
    assert out["ungated"]


def test_cuda_kernels_that_pass_their_check_stay():
    out = run_switch("")
    assert out["state"] == "passed" and out["warnings"] == []
    assert out["backend"] == "cuda"
    assert not out["cuda_kernel_after"]
    assert out["ungated"]


def test_a_forced_cuda_backend_keeps_its_kernels_but_warns():
    out = run_switch("compare=lambda a, b, dtype: 3.0", {"AEGUI_BACKEND": "cuda"})
    assert out["state"] == "failed" and len(out["warnings"]) == 1
    assert "AEGUI_BACKEND=cuda keeps them" in out["warnings"][0]
    assert out["backend"] == "cuda" and not out["cuda_kernel_after"]
