"""Finds and loads the compiled bottleneck library, and says which backend runs.

The fallback chain, tried once per process on first use:

1. the library built ahead of time when the package was installed (``aegui._C``);
2. if it is missing or fails to load (an ABI mismatch after a torch upgrade, say), a
   ninja build from ``csrc/`` into a cache folder, run in a child process with a time
   limit so that a hung compiler or a stale lock can never hang the app; a library
   already in the cache is loaded only after it is checked against what its build
   recorded (``_jit``);
3. if that fails too (no compiler, for instance), nothing: the caller runs the
   pure-PyTorch reference, after one warning that says why.

``AEGUI_BACKEND=reference|cpu|cuda`` forces a choice and fails clearly when the forced
backend is unavailable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import os
import shutil
import sys
import threading
from pathlib import Path

import torch

from ..errors import first_line as _first_line
from . import _jit

BACKEND_ENV = "AEGUI_BACKEND"
_CHOICES = ("reference", "cpu", "cuda")
LIB_NAME = "aegui_ops"
BUILD_TIMEOUT_S = float(os.environ.get("AEGUI_BUILD_TIMEOUT", "900"))
LOCK_TIMEOUT_S = BUILD_TIMEOUT_S + 60


class BackendUnavailable(RuntimeError):
    """AEGUI_BACKEND asked for a backend that cannot run here."""


@dataclasses.dataclass(frozen=True)
class LibraryStatus:
    loaded: bool          # the compiled ops are registered in torch.ops.aegui
    how: str              # "prebuilt", "jit" or "" when not loaded
    reason: str           # why not loaded ("" when loaded)
    has_cuda: bool        # the compiled library carries CUDA kernels
    forced: str           # the value of AEGUI_BACKEND ("" when unset)


_status: LibraryStatus | None = None
_lock = threading.Lock()


def forced_backend() -> str:
    value = os.environ.get(BACKEND_ENV, "").strip().lower()
    if value and value not in _CHOICES:
        raise BackendUnavailable(f"{BACKEND_ENV}={value!r} is not one of {', '.join(_CHOICES)}")
    return value


def status() -> LibraryStatus:
    """Loads the library on first call (may compile it) and returns what happened."""
    global _status
    if _status is None:
        with _lock:
            if _status is None:
                _status = _load()
    return _status


def loaded_already() -> bool:
    """Whether the compiled library has been loaded in this process (never loads it)."""
    return _status is not None and _status.loaded


def _ops_registered() -> bool:
    return hasattr(torch.ops.aegui, "bottleneck")


def _load() -> LibraryStatus:
    forced = forced_backend()
    if forced == "reference":
        return LibraryStatus(False, "", f"{BACKEND_ENV}=reference", False, forced)
    reasons = []
    how = ""
    try:
        importlib.import_module("aegui._C")
        how = "prebuilt" if _ops_registered() else ""
        if not how:
            reasons.append("aegui._C loaded but registered no ops")
    except (ImportError, OSError) as e:
        reasons.append(f"the prebuilt library did not load ({_first_line(e)})")
    if not how:
        try:
            _jit_build_and_load()
            how = "jit"
        except Exception as e:  # a failed build must end in the fallback, never a crash
            reasons.append(f"building it failed ({_first_line(e)})")
    if not how:
        return LibraryStatus(False, "", "; ".join(reasons), False, forced)
    has_cuda = bool(torch.ops.aegui.has_cuda_kernels())
    return LibraryStatus(True, how, "", has_cuda, forced)


# ----------------------------------------------------------------------- JIT build


def source_dir() -> Path:
    """The op's sources: the copy an installed package carries, else csrc/ of the checkout."""
    from aegui.resources import csrc_dir

    return csrc_dir()


def source_files(with_cuda: bool) -> list[Path]:
    root = source_dir()
    files = [*sorted(root.glob("*.cpp")), *sorted((root / "cpu").glob("*.cpp"))]
    if with_cuda:
        files += sorted((root / "cuda").glob("*.cu"))
    return files


def cuda_buildable() -> bool:
    from torch.utils.cpp_extension import CUDA_HOME

    return torch.version.cuda is not None and CUDA_HOME is not None and torch.cuda.is_available()


def cache_root() -> Path:
    base = os.environ.get("AEGUI_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    return Path(base) / "aegui" if base else Path.home() / ".cache" / "aegui"


def build_dir(with_cuda: bool) -> Path:
    """One folder per source state, torch and Python: a changed source or an upgraded
    torch gets a fresh build instead of loading a stale one."""
    digest = hashlib.sha256()
    root = source_dir()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".h", ".cpp", ".cu", ".inl"}:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    tag = f"torch{torch.__version__}-py{sys.version_info.major}{sys.version_info.minor}-{'cuda' if with_cuda else 'cpu'}"
    return cache_root() / "ops" / f"{tag}-{digest.hexdigest()[:16]}"


def _library_path(folder: Path) -> Path:
    return folder / f"{LIB_NAME}.so"


def _jit_build_and_load() -> None:
    root = source_dir()
    if not (root / "bindings.cpp").is_file():
        raise RuntimeError(f"no sources to build from ({root} not found)")
    with_cuda = cuda_buildable()
    folder = build_dir(with_cuda)
    lib = _library_path(folder)
    if _jit.entry_problem(lib):
        folder.mkdir(parents=True, exist_ok=True)
        with _jit.exclusive(folder / _jit.LOCK_NAME, LOCK_TIMEOUT_S):
            problem = _jit.entry_problem(lib)  # another process may have built it meanwhile
            if problem:
                _check_toolchain()
                why = "" if not lib.exists() else f"; the cached one is not loaded: {problem}"
                print(f"aegui: compiling the bottleneck op for torch {torch.__version__} into {folder} "
                      f"(once; about a minute{why})", file=sys.stderr, flush=True)
                _jit.build(folder, lib, with_cuda, BUILD_TIMEOUT_S)
    torch.ops.load_library(str(lib))
    _import_as_module(lib)


def _import_as_module(lib: Path) -> None:
    """The built library as the module ``aegui._C`` too, as the prebuilt one is: its
    functions are the drawing's kernels (``aegui.native``). Loading it again only runs its
    module init; the ops are registered once. Should that fail, the ops still work and
    numpy paints and frames (the same pixels, more slowly)."""
    spec = importlib.util.spec_from_file_location("aegui._C", lib)
    if spec is None or spec.loader is None:
        return
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError):
        return
    sys.modules["aegui._C"] = module


def _check_toolchain() -> None:
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C++ compiler found ('{compiler}' is not on PATH)")
    from torch.utils.cpp_extension import is_ninja_available

    if not is_ninja_available():
        raise RuntimeError("ninja is not installed (pip install ninja)")
