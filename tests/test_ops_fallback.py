"""The fallback chain: prebuilt library, else a ninja build into a cache, else the
pure-PyTorch reference with one warning; AEGUI_BACKEND forces a choice and fails clearly.

Each case runs in a fresh interpreter, since the library loads once per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

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
        from aegui import native
        result["drawing kernels"] = [k for k in ("paint_pieces", "frame_digit", "colour_image", "colour_box")
                                      if native.kernel(k) is not None]
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
    assert result["drawing kernels"] == ["paint_pieces", "frame_digit", "colour_image", "colour_box"]


def test_forcing_reference_works_and_warns_nothing():
    result, _ = probe({"AEGUI_BACKEND": "reference"})
    assert result["backend"] == "reference" and result["matches"]
    assert result["drawing kernels"] == []       # numpy paints and frames
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
    # The built library is the module aegui._C too: the drawing's kernels come with it.
    assert result["drawing kernels"] == ["paint_pieces", "frame_digit", "colour_image", "colour_box"]
    assert stderr.count("aegui: compiling the bottleneck op") == 1
    again, stderr = probe(env, setup=HIDE_PREBUILT)  # second run: loads from the cache
    assert again["how"] == "jit" and "compiling" not in stderr


# ---------------------------------------------------------------- the JIT cache and build

def prebuilt_library() -> Path:
    import aegui

    found = sorted(Path(aegui.__file__).parent.glob("_C*.so"))
    if not found:
        pytest.skip("no prebuilt library to stand in for a cached build")
    return found[0]


def cache_entry(cache: Path) -> Path:
    """Where a probe with AEGUI_CACHE_DIR=cache looks for its cached library."""
    code = ("import os, sys; from aegui.ops import _extension as X; "
            "print(X._library_path(X.build_dir(X.cuda_buildable())))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "AEGUI_CACHE_DIR": str(cache)},
                         capture_output=True, text=True, check=True).stdout
    return Path(out.strip())


def fake_compiler(folder: Path, then: str) -> Path:
    """A `g++` that torch's build accepts, whose compile commands record their pid in
    folder/pids and then `then` (a shell command): "exit 1" fails, "exec sleep 600" hangs."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "g++"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        case "$*" in *-dumpfullversion*|*-dumpversion*) echo 12.2.0; exit 0;; esac
        echo $$ >> "{folder}/pids"
        {then}
    """))
    script.chmod(0o755)
    return script


def test_a_valid_cached_library_loads_without_a_compiler(tmp_path):
    lib = cache_entry(tmp_path)
    lib.parent.mkdir(parents=True)
    shutil.copyfile(prebuilt_library(), lib)
    from aegui.ops import _jit

    _jit.record(lib)
    result, stderr = probe({"AEGUI_CACHE_DIR": str(tmp_path), "CXX": "no-such-compiler"}, setup=HIDE_PREBUILT)
    assert result["backend"] == "cpu" and result["how"] == "jit" and result["matches"], (result, stderr)
    assert "compiling" not in stderr


@pytest.mark.parametrize("record", ["recorded whole", "unrecorded"])
def test_a_truncated_cached_library_is_not_loaded(tmp_path, record):
    """Loading it would kill the process with SIGBUS, at every start. It is rebuilt
    instead; with a compiler that fails here, the reference runs, after one warning."""
    lib = cache_entry(tmp_path)
    lib.parent.mkdir(parents=True)
    shutil.copyfile(prebuilt_library(), lib)
    if record == "recorded whole":
        from aegui.ops import _jit

        _jit.record(lib)
    with open(lib, "r+b") as f:
        f.truncate(1 << 20)  # inside the code the loader maps (the rest of the file may be debug info)
    compiler = fake_compiler(tmp_path / "bin", "exit 1")
    result, stderr = probe({"AEGUI_CACHE_DIR": str(tmp_path), "CXX": str(compiler)}, setup=HIDE_PREBUILT)
    assert result["backend"] == "reference" and result["matches"], (result, stderr)
    assert len(result["warnings"]) == 1 and "compiler error" in result["warnings"][0]
    assert (tmp_path / "bin" / "pids").exists(), "no rebuild was attempted"


def processes_under(folder: Path) -> list[str]:
    """Processes whose working folder or command line lies under `folder`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (str(folder) in cwd or str(folder) in cmdline):
            found.append(f"{proc.name}: {cmdline[:120]} (in {cwd})")
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")
def test_a_build_that_runs_too_long_is_stopped_with_every_process_it_started(tmp_path):
    """The child, ninja and every compiler: none is left running, nor torch's lock file."""
    cache, bin_dir = tmp_path / "cache", tmp_path / "bin"
    compiler = fake_compiler(bin_dir, "exec sleep 600")
    # The limit must let the build reach its compilers first: its child starts Python and
    # imports torch, which takes seconds on a busy machine. Measured here, not guessed.
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    limit = max(8.0, 4 * (time.monotonic() - t0) + 2)
    try:
        result, _ = probe({"AEGUI_CACHE_DIR": str(cache), "CXX": str(compiler), "AEGUI_BUILD_TIMEOUT": f"{limit:.0f}"},
                          setup=HIDE_PREBUILT, timeout=120)
        pids = (bin_dir / "pids").read_text().split() if (bin_dir / "pids").exists() else []
        assert pids, "the build never reached the compiler: nothing was tested"
        assert result["backend"] == "reference"
        assert len(result["warnings"]) == 1 and "stopped" in result["warnings"][0]
        deadline = time.monotonic() + 10  # SIGKILL is immediate; reaping by init is not
        while processes_under(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_under(tmp_path) == []
        assert not list(cache.rglob("lock")), "torch's lock file was left behind"
    finally:
        for line in processes_under(tmp_path):  # a failure must not leave them running
            with contextlib.suppress(OSError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")
def test_a_build_lock_held_by_a_stopped_process_is_not_waited_for(tmp_path):
    """The holder's pid is in the lock: a stopped (or vanished) holder is seen at once, not
    after the lock's time limit (here 90 s)."""
    cache = tmp_path / "cache"
    holder_code = textwrap.dedent("""
        import os, signal, sys
        from aegui.ops import _extension as X, _jit
        folder = X.build_dir(X.cuda_buildable())
        folder.mkdir(parents=True, exist_ok=True)
        with _jit.exclusive(folder / _jit.LOCK_NAME, 60):
            print("locked", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
    """)
    env = {**os.environ, "AEGUI_CACHE_DIR": str(cache)}
    holder = subprocess.Popen([sys.executable, "-c", holder_code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        compiler = fake_compiler(tmp_path / "bin", "exit 1")
        t0 = time.monotonic()
        result, stderr = probe({"AEGUI_CACHE_DIR": str(cache), "CXX": str(compiler), "AEGUI_BUILD_TIMEOUT": "30"},
                               setup=HIDE_PREBUILT, timeout=120)
        elapsed = time.monotonic() - t0
        assert result["backend"] == "reference"
        assert len(result["warnings"]) == 1 and "compiler error" in result["warnings"][0], (result, stderr)
        assert elapsed < 60, f"waited {elapsed:.0f} s for a stopped holder"
    finally:
        holder.kill()
        holder.communicate()
