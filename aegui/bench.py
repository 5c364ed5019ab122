"""``aegui bench ops``: the fused bottleneck op against what PyTorch does without it.

Every figure is a median over repeated timings taken in the same run, with the
implementations interleaved round by round so that a slow spell of the machine hits them
all alike; ratios are of those medians. On CUDA, kernels are timed with the device
synchronised around each timed batch of calls, and the memory bandwidth the fused op
reaches is set against a device-to-device copy measured in the same run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import ops
from .atomic_files import write_bytes_atomic

BATCHES = (1, 64, 4096, 65536)
HIDDEN = (256, 1024)
LATENT = 16


@dataclasses.dataclass
class Row:
    mode: str            # "inference" or "fwd+bwd"
    batch: int
    hidden: int
    latent: int
    medians_us: dict     # implementation -> median microseconds per call
    ratios: dict         # "eager/fused" etc.: how many times faster fused is
    bandwidth_fraction: float | None = None  # CUDA inference: achieved / copy bandwidth


def machine_description(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    isa = torch.ops.aegui.cpu_isa("") if ops.backend("cpu") == "cpu" else "n/a"
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, kernel ISA {isa}")


# ---------------------------------------------------------------- implementations


def eager_composite(activation: str) -> Callable:
    act = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu, "tanh": torch.tanh,
           "identity": lambda x: x}[activation]

    def composite(h, w_enc, b_enc, w_dec, b_dec):
        z = F.linear(h, w_enc, b_enc)
        return z, act(F.linear(z, w_dec, b_dec))

    return composite


def addmm_activation_composite(activation: str) -> Callable:
    # cuBLASLt fuses the bias and a relu/gelu epilogue into the second matrix product.
    use_gelu = activation == "gelu"

    def composite(h, w_enc, b_enc, w_dec, b_dec):
        z = torch.addmm(b_enc, h, w_enc.t())
        return z, torch._addmm_activation(b_dec, z, w_dec.t(), use_gelu=use_gelu)

    return composite


def fused(activation: str) -> Callable:
    def run(h, w_enc, b_enc, w_dec, b_dec):
        return ops.bottleneck(h, w_enc, b_enc, w_dec, b_dec, activation)

    return run


def implementations(device: str, activation: str, with_compile: bool) -> dict[str, Callable]:
    impls = {"fused": fused(activation), "eager": eager_composite(activation)}
    if with_compile:
        impls["compile"] = torch.compile(eager_composite(activation))
        if device == "cuda":
            impls["compile-ro"] = torch.compile(eager_composite(activation), mode="reduce-overhead")
    if device == "cuda" and activation in ("relu", "gelu"):
        impls["addmm_act"] = addmm_activation_composite(activation)
    return impls


# ------------------------------------------------------------------------- timing


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time_once(fn: Callable[[], object], calls: int, device: str) -> float:
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / calls


def _calibrate(fn: Callable[[], object], device: str, target_s: float) -> int:
    """Calls per timing so one timing lasts about target_s (at least one call)."""
    calls = 1
    while True:
        t = _time_once(fn, calls, device)
        if t * calls >= target_s / 4 or calls >= 1 << 20:
            return max(1, int(target_s / max(t, 1e-9)))
        calls *= 4


def time_side_by_side(fns: dict[str, Callable[[], object]], device: str, rounds: int,
                      target_s: float) -> dict[str, float]:
    """Median seconds per call of each fn, measured in interleaved rounds."""
    for fn in fns.values():  # warm-up: compilation, allocator, caches
        for _ in range(3):
            fn()
    calls = {name: _calibrate(fn, device, target_s) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(_time_once(fn, calls[name], device))
    return {name: statistics.median(s) for name, s in samples.items()}


def copy_bandwidth(device: str, nbytes: int = 1 << 30) -> float:
    """Bytes per second of a device-to-device copy, counting bytes read plus written."""
    n = nbytes // 4
    src = torch.empty(n, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    t = time_side_by_side({"copy": lambda: dst.copy_(src)}, device, rounds=11, target_s=0.05)["copy"]
    return 2 * n * 4 / t


# -------------------------------------------------------------------------- cases


def make_inputs(batch: int, hidden: int, latent: int, device: str, dtype: torch.dtype,
                requires_grad: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        t = (torch.randn(*shape, generator=g) * scale).to(device=device, dtype=dtype)
        return t.requires_grad_(requires_grad)

    return (rand(batch, hidden), rand(latent, hidden, scale=hidden ** -0.5), rand(latent, scale=0.1),
            rand(hidden, latent, scale=latent ** -0.5), rand(hidden, scale=0.1))


def bench_case(mode: str, batch: int, hidden: int, latent: int, impls: dict[str, Callable],
               device: str, dtype: torch.dtype, rounds: int, target_s: float,
               copy_bw: float | None) -> Row:
    training = mode == "fwd+bwd"
    args = make_inputs(batch, hidden, latent, device, dtype, requires_grad=training)
    g_z = torch.randn(batch, latent, device=device, dtype=dtype)
    g_y = torch.randn(batch, hidden, device=device, dtype=dtype)

    def forward_backward(fn):
        # Gradients flow into both outputs, as in the VAE and in latent regularisers.
        def run():
            z, y = fn(*args)
            torch.autograd.backward((z, y), (g_z, g_y))
            for a in args:
                a.grad = None
        return run

    if training:
        medians = time_side_by_side({n: forward_backward(fn) for n, fn in impls.items()}, device, rounds,
                                    target_s)
    else:
        # The mode is entered once around the timing, not per call: it is how the app runs
        # inference, and its own cost is not part of either implementation.
        with torch.inference_mode():
            medians = time_side_by_side({n: (lambda fn=fn: fn(*args)) for n, fn in impls.items()}, device,
                                        rounds, target_s)
    ratios = {f"{name}/fused": medians[name] / medians["fused"] for name in medians if name != "fused"}
    bw = None
    if copy_bw and not training:
        elem = torch.finfo(dtype).bits // 8
        bw = batch * (2 * hidden + latent) * elem / medians["fused"] / copy_bw
    return Row(mode, batch, hidden, latent, {k: v * 1e6 for k, v in medians.items()}, ratios, bw)


def format_row(row: Row, names: list[str]) -> str:
    times = "  ".join(f"{row.medians_us[n]:>11.1f}" for n in names)
    ratios = "  ".join(f"{row.ratios[f'{n}/fused']:>7.2f}x" for n in names if n != "fused")
    bw = f"  {row.bandwidth_fraction * 100:5.1f}%" if row.bandwidth_fraction is not None else ""
    return f"{row.mode:<9} {row.batch:>6} {row.hidden:>5}  {times}  {ratios}{bw}"


def run_ops_benchmark(device: str = "cpu", activation: str = "relu", dtype: str = "float32",
                      batches=BATCHES, hidden=HIDDEN, latent: int = LATENT, modes=("inference", "fwd+bwd"),
                      with_compile: bool = True, rounds: int = 15, target_s: float = 0.02,
                      json_path: str | None = None, out=sys.stdout) -> list[Row]:
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("aegui bench ops: --device cuda but no CUDA device is available")
    torch_dtype = getattr(torch, dtype)
    impls = implementations(device, activation, with_compile)
    names = list(impls)
    copy_bw = copy_bandwidth(device) if device == "cuda" else None
    print(f"aegui bench ops: {machine_description(device)}", file=out)
    print(f"backend {ops.backend(device)}, {dtype}, activation {activation}, Z = {latent}; "
          f"median of {rounds} interleaved rounds; ratio = other / fused (above 1: fused is faster)",
          file=out)
    if copy_bw:
        print(f"device-to-device copy: {copy_bw / 1e9:.0f} GB/s (read + write)", file=out)
    header = (f"{'mode':<9} {'B':>6} {'H':>5}  " + "  ".join(f"{n + ' us':>11}" for n in names) + "  "
              + "  ".join(f"{n + '/f':>8}" for n in names if n != "fused")
              + ("  bw/copy" if copy_bw else ""))
    print(header, file=out)
    rows = []
    for mode in modes:
        for h in hidden:
            for b in batches:
                row = bench_case(mode, b, h, latent, impls, device, torch_dtype, rounds, target_s, copy_bw)
                rows.append(row)
                print(format_row(row, names), file=out, flush=True)
    if json_path:
        payload = {"machine": machine_description(device), "device": device, "dtype": dtype,
                   "activation": activation, "backend": ops.backend(device),
                   "copy_bandwidth_bytes_per_s": copy_bw, "rows": [dataclasses.asdict(r) for r in rows]}
        write_bytes_atomic(json_path, json.dumps(payload, indent=2).encode())
    return rows
