"""The CUDA kernels run on the CPU, for tests: builds tests/cuda_emulator_harness.cpp (the
kernels' own source compiled as host C++ against csrc/emu/cuda_emu.h) and calls it on the
memory of CPU tensors through ctypes.

Built with one call of the C++ compiler, once per source state (a hash of the sources,
flags and compiler), into the same cache folder as the op's own fallback build, under the
same OS file lock, then loaded with ctypes. Not torch.utils.cpp_extension: the harness is
one translation unit that includes no torch header (the kernels are plain C++ and need
only the CUDA toolkit's headers, for half and bfloat16), so torch's include paths, ninja
and its build lock (which a killed build leaves behind) would add nothing but time.

Every buffer handed to a kernel sits between two guard bands of NaN bytes: a kernel that
reads outside a buffer gets NaN into its results, and one that writes outside it is caught
when the bands are checked afterwards. Outputs and workspace start as NaN too, so an
element a kernel never writes cannot pass for a result.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import torch

from aegui.ops import _extension, _jit

ROOT = Path(__file__).resolve().parents[1]
HARNESS = Path(__file__).resolve().with_name("cuda_emulator_harness.cpp")
FLAGS = ["-std=c++17", "-O1", "-fPIC", "-shared", "-fno-strict-aliasing", "-fvisibility=hidden",
         "-DAEGUI_CUDA_EMULATION"]
BUILD_TIMEOUT_S = 600

DTYPE_CODE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
MODE_CODE = {"bottleneck": 0, "variational_bottleneck": 1, "decode_head": 2}
ACTIVATION_CODE = {"identity": 0, "relu": 1, "gelu": 2, "silu": 3, "tanh": 4}
GUARD = 64  # elements of NaN bytes before and after every buffer


class Unavailable(RuntimeError):
    """The emulated kernels cannot be built here (no compiler, no CUDA headers)."""


def cuda_include_dir() -> Path | None:
    """The CUDA toolkit's include folder (for cuda_fp16.h and cuda_bf16.h), if any."""
    from torch.utils.cpp_extension import CUDA_HOME

    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), CUDA_HOME]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parents[1]))
    candidates.append("/usr/local/cuda")
    for c in candidates:
        if c and (Path(c) / "include" / "cuda_fp16.h").is_file():
            return Path(c) / "include"
    return None


def _sources() -> list[Path]:
    csrc = ROOT / "csrc"
    return [HARNESS, csrc / "bottleneck.h", *sorted((csrc / "cuda").glob("*.cu")),
            *sorted((csrc / "emu").glob("*.h"))]


@functools.lru_cache(maxsize=None)
def library() -> ctypes.CDLL:
    """Builds (once per source state) and loads the harness; raises Unavailable."""
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise Unavailable(f"no C++ compiler ('{compiler}' is not on PATH) to build the emulated CUDA kernels")
    include = cuda_include_dir()
    if include is None:
        raise Unavailable("the CUDA toolkit's headers (cuda_fp16.h) were not found: set CUDA_HOME "
                          "to build the emulated CUDA kernels")
    cmd = [compiler, *FLAGS, f"-I{ROOT / 'csrc'}", f"-I{include}", str(HARNESS)]
    digest = hashlib.sha256(" ".join(cmd).encode())
    for path in _sources():
        digest.update(path.read_bytes())
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    digest.update(version.encode())
    folder = _extension.cache_root() / "emulated-cuda" / digest.hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    lib = folder / "cuda_emulator.so"
    with _jit.exclusive(folder / ".lock", BUILD_TIMEOUT_S + 60):
        if not lib.is_file():
            tmp = folder / f"cuda_emulator.{os.getpid()}.so"
            done = subprocess.run([*cmd, "-o", str(tmp)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
            if done.returncode != 0:
                raise RuntimeError("building the emulated CUDA kernels failed:\n" + done.stderr[-4000:])
            tmp.replace(lib)  # atomic: a reader never sees half a library
    return _declare(ctypes.CDLL(str(lib)))


def _declare(so: ctypes.CDLL) -> ctypes.CDLL:
    i64, u64, p, i = ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int
    slots = ctypes.POINTER(ctypes.c_void_p)
    so.aegui_emu_forward_slots.restype = ctypes.c_char_p
    so.aegui_emu_backward_slots.restype = ctypes.c_char_p
    so.aegui_emu_forward_workspace_bytes.argtypes = [i, i, i, i64, i64, i64, slots]
    so.aegui_emu_forward_workspace_bytes.restype = i64
    so.aegui_emu_forward.argtypes = [i, i, i, i64, i64, i64, slots, p, u64, ctypes.c_char_p, i64]
    so.aegui_emu_backward_uses_atomics.argtypes = [i, i, i64, i64, i64, slots]
    so.aegui_emu_backward_workspace_bytes.argtypes = [i, i, i, i64, i64, i64, slots]
    so.aegui_emu_backward_workspace_bytes.restype = i64
    so.aegui_emu_backward.argtypes = [i, i, i, i64, i64, i64, slots, p, u64, ctypes.c_char_p, i64]
    so.aegui_emu_launches.argtypes = [ctypes.c_char_p, i64]
    so.aegui_emu_launches.restype = i64
    return so


# --------------------------------------------------------------------------- buffers


@dataclasses.dataclass
class Guarded:
    """A tensor's copy between two bands of NaN bytes; .view is what the kernel sees."""
    flat: torch.Tensor
    view: torch.Tensor

    @staticmethod
    def like(shape, dtype, values: torch.Tensor | None = None) -> "Guarded":
        n = 1
        for s in shape:
            n *= s
        flat = torch.empty(n + 2 * GUARD, dtype=dtype)
        flat.view(torch.uint8).fill_(0xFF)
        view = flat[GUARD:GUARD + n].view(shape)
        if values is not None:
            view.copy_(values)
        return Guarded(flat, view)

    def ptr(self) -> int:
        return self.view.data_ptr()

    def check_guards(self, name: str) -> None:
        for band in (self.flat[:GUARD], self.flat[GUARD + self.view.numel():]):
            if not bool((band.view(torch.uint8) == 0xFF).all()):
                raise AssertionError(f"a kernel wrote outside {name}")


def _slot_array(names: list[str], buffers: dict[str, Guarded]):
    unknown = set(buffers) - set(names)
    assert not unknown, f"no such pointer slot: {unknown}"
    arr = (ctypes.c_void_p * len(names))()
    for k, name in enumerate(names):
        arr[k] = buffers[name].ptr() if name in buffers else None
    return arr


class KernelError(RuntimeError):
    """A kernel call returned an error (a launch error or an emulator finding)."""


def _check(rc: int, msg) -> None:
    if rc != 0:
        raise KernelError(msg.value.decode())


def launches() -> list[tuple[tuple[int, int, int], tuple[int, int, int], int]]:
    """The launches of the last call: (grid, block, barrier phases)."""
    buf = ctypes.create_string_buffer(1 << 16)
    library().aegui_emu_launches(buf, len(buf))
    out = []
    for line in buf.value.decode().splitlines():
        v = [int(x) for x in line.split()]
        out.append((tuple(v[0:3]), tuple(v[3:6]), v[6]))
    return out


# ------------------------------------------------------------------------ the calls


def forward(op: str, inputs: dict, activation: str, seed: int = 0) -> dict:
    """Runs the forward kernel; inputs by the op's argument names (see ops_cases), outputs
    by name: z, y (bottleneck), mu, logvar, z, y (variational), y (decode_head)."""
    so = library()
    first = next(iter(inputs.values()))
    dtype = first.dtype
    if op == "decode_head":
        B, Z = inputs["z"].shape
    else:
        B = inputs["h"].shape[0]
        Z = (inputs.get("w_enc") if op == "bottleneck" else inputs["w_mu"]).shape[0]
    H = inputs["w_dec"].shape[0]
    rename = {"w_mu": "w_enc", "b_mu": "b_enc", "w_logvar": "w_lv", "b_logvar": "b_lv", "z": "z_in"}
    bufs = {rename.get(k, k): Guarded.like(v.shape, dtype, v) for k, v in inputs.items() if v is not None}
    out_shapes = {"bottleneck": {"z": (B, Z), "y": (B, H)},
                  "variational_bottleneck": {"mu": (B, Z), "logvar": (B, Z), "z": (B, Z), "y": (B, H)},
                  "decode_head": {"y": (B, H)}}[op]
    outs = {k: Guarded.like(s, dtype) for k, s in out_shapes.items()}
    names = so.aegui_emu_forward_slots().decode().split()
    slots = _slot_array(names, {**bufs, **outs})
    args = (DTYPE_CODE[dtype], MODE_CODE[op], ACTIVATION_CODE[activation], B, H, Z, slots)
    ws = Guarded.like((max(so.aegui_emu_forward_workspace_bytes(*args), 1),), torch.uint8)
    msg = ctypes.create_string_buffer(1024)
    rc = so.aegui_emu_forward(*args, ws.ptr(), seed, msg, len(msg))
    _check(rc, msg)
    for name, b in {**bufs, **outs, "workspace": ws}.items():
        b.check_guards(name)
    return {k: b.view.clone() for k, b in outs.items()}


def backward(op: str, saved: dict, grads_in: dict, wanted: list[str], activation: str, seed: int = 0) -> dict:
    """Runs the backward kernels. saved: the tensors the backward reads (h, w_enc, w_lv, eps,
    logvar, z, y, w_dec, b_dec, as the op has them); grads_in: grad_y, grad_z, grad_mu,
    grad_logvar (absent = zero); wanted: the gradients to compute (grad_h, grad_w_enc, ...).
    Returns the wanted gradients by name."""
    so = library()
    dtype = saved["w_dec"].dtype
    B, Z = saved["z"].shape
    H = saved["w_dec"].shape[0]
    shapes = {"grad_h": (B, H), "grad_w_enc": (Z, H), "grad_b_enc": (Z,), "grad_w_lv": (Z, H), "grad_b_lv": (Z,),
              "grad_eps": (B, Z), "grad_z_in": (B, Z), "grad_w_dec": (H, Z), "grad_b_dec": (H,)}
    bufs = {k: Guarded.like(v.shape, dtype, v) for k, v in {**saved, **grads_in}.items() if v is not None}
    outs = {k: Guarded.like(shapes[k], dtype) for k in wanted}
    names = so.aegui_emu_backward_slots().decode().split()
    slots = _slot_array(names, {**bufs, **outs})
    args = (DTYPE_CODE[dtype], MODE_CODE[op], ACTIVATION_CODE[activation], B, H, Z, slots)
    nbytes = so.aegui_emu_backward_workspace_bytes(*args)
    ws = Guarded.like((max(nbytes, 1),), torch.uint8)
    msg = ctypes.create_string_buffer(1024)
    rc = so.aegui_emu_backward(*args, ws.ptr(), seed, msg, len(msg))
    _check(rc, msg)
    for name, b in {**bufs, **outs, "workspace": ws}.items():
        b.check_guards(name)
    return {k: b.view.clone() for k, b in outs.items()}
