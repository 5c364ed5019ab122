"""The fallback chain: prebuilt library, else a ninja build into a cache, else the
pure-PyTorch reference with one warning; AEGUI_BACKEND forces a choice and fails clearly.

Each case runs in a fresh interpreter, since the library loads once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PROBE = """
import json, sys, warnings
{setup}
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import torch
    from aegui import ops
    result = {{}}
    try:
        result["backend"] = ops.backend("cpu")
        st = ops.library_status()
        result["how"], result["reason"] = st.how, st.reason
        h, we, be, wd, bd = (torch.randn(3, 5), torch.randn(2, 5), torch.randn(2), torch.randn(5, 2), torch.randn(5))
        z, y = ops.bottleneck(h, we, be, wd, bd, "gelu")
        zr, yr = ops._reference.bottleneck(h, we, be, wd, bd, "gelu")
        result["matches"] = bool(torch.allclose(z, zr, atol=1e-5) and torch.allclose(y, yr, atol=1e-5))
    except Exception as e:
        result["error"] = f"{{type(e).__name__}}: {{e}}"
result["warnings"] = [str(w.message) for w in caught if "aegui" in str(w.message)]
print("RESULT" + json.dumps(result))
"""


def probe(env_extra=None, setup="", timeout=900):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEGUI_")}
    env.update(env_extra or {})
    code = textwrap.dedent(PROBE.format(setup=setup))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT")]
    assert lines, f"probe crashed (rc {done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT"):]), done.stderr


# Hides the prebuilt library, as if it were missing or built for another torch.
HIDE_PREBUILT = "sys.modules['aegui._C'] = None"


def test_default_uses_the_prebuilt_library_without_warnings():
    result, _ = probe()
    assert result["backend"] == "cpu", result
    assert result["how"] == "prebuilt" and result["matches"] and result["warnings"] == []


def test_forcing_reference_works_and_warns_nothing():
    result, _ = probe({"AEGUI_BACKEND": "reference"})
    assert result["backend"] == "reference" and result["matches"]
    assert result["warnings"] == []


def test_forcing_cuda_without_cuda_fails_clearly():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the forced choice is available")
    result, _ = probe({"AEGUI_BACKEND": "cuda"})
    assert "BackendUnavailable" in result["error"]
    assert "AEGUI_BACKEND=cuda" in result["error"]


def test_an_unknown_forced_backend_is_refused():
    result, _ = probe({"AEGUI_BACKEND": "tpu"})
    assert "BackendUnavailable" in result["error"] and "reference, cpu, cuda" in result["error"]


def test_forcing_cpu_when_nothing_can_be_built_fails_clearly(tmp_path):
    result, _ = probe({"AEGUI_BACKEND": "cpu", "CXX": "no-such-compiler", "AEGUI_CACHE_DIR": str(tmp_path)},
                      setup=HIDE_PREBUILT)
    assert "AEGUI_BACKEND=cpu" in result["error"] and "no-such-compiler" in result["error"]


def test_without_library_or_compiler_the_reference_runs_after_one_warning(tmp_path):
    result, _ = probe({"CXX": "no-such-compiler", "AEGUI_CACHE_DIR": str(tmp_path)}, setup=HIDE_PREBUILT)
    assert result["backend"] == "reference" and result["matches"]
    assert len(result["warnings"]) == 1
    assert "no C++ compiler" in result["warnings"][0] and "reference" in result["warnings"][0]


def test_a_compile_that_runs_too_long_is_stopped_not_waited_for(tmp_path):
    result, _ = probe({"AEGUI_BUILD_TIMEOUT": "1", "AEGUI_CACHE_DIR": str(tmp_path)}, setup=HIDE_PREBUILT,
                      timeout=120)
    assert result["backend"] == "reference"
    assert len(result["warnings"]) == 1 and "stopped" in result["warnings"][0]


@pytest.mark.slow
def test_a_missing_prebuilt_library_is_compiled_once_into_the_cache(tmp_path):
    """Also: a lock file left by a killed build does not make the build wait."""
    stale_lock = ("from aegui.ops import _extension as X; d = X.build_dir(X.cuda_buildable()); "
                  "d.mkdir(parents=True, exist_ok=True); (d / 'lock').write_text('')")
    env = {"AEGUI_CACHE_DIR": str(tmp_path)}
    result, stderr = probe(env, setup=f"{HIDE_PREBUILT}\n{stale_lock}")
    assert result["backend"] == "cpu" and result["how"] == "jit" and result["matches"], (result, stderr)
    assert result["warnings"] == []
    assert stderr.count("aegui: compiling the bottleneck op") == 1
    again, stderr = probe(env, setup=HIDE_PREBUILT)  # second run: loads from the cache
    assert again["how"] == "jit" and "compiling" not in stderr
