"""Every CUDA kernel of the op on a few small shapes, forward and backward, checked against
the reference: the program that .ci/gpu-check runs under compute-sanitizer (memcheck,
racecheck, synccheck, initcheck). The shapes reach every kernel: one row (the small-batch
forward), partial tiles, Z padded to 8, 32 and 64 and Z over 64 (slices), and B = 0. The
reference runs on the CPU so that only the op's kernels (and torch's copies) are on the
device. Run from the repository root."""

import sys

import torch

sys.path.insert(0, "tests")

from aegui import ops  # noqa: E402
from aegui.ops import _reference as ref  # noqa: E402
from ops_cases import OPS, assert_close, make_case, outputs_and_grads  # noqa: E402

SHAPES = [(1, 40, 5), (3, 33, 17), (5, 40, 33), (67, 45, 30), (67, 45, 100), (0, 7, 5)]
DTYPES = [torch.float32, torch.float64, torch.float16]


def check(case, dtype):
    cpu = {k: v for k, v in case.inputs.items()}
    case.inputs = {k: v.cuda() for k, v in cpu.items()}
    outs, grads, out_grads = outputs_and_grads(case, ops)
    case.inputs = cpu
    ref_outs, ref_grads, _ = outputs_and_grads(case, ref, [g.cpu() for g in out_grads], upcast=True)
    for k, (a, b) in enumerate(zip(outs, ref_outs)):
        assert_close(a.cpu(), b, dtype, f"{case.op} output {k}")
    for name in grads:
        assert_close(grads[name].cpu(), ref_grads[name], dtype, f"{case.op} grad {name}")


def main():
    if ops.backend("cuda") != "cuda":
        sys.exit(f"the CUDA kernels are not loaded: {ops.library_status()}")
    n = 0
    for op in OPS:
        for dtype in DTYPES:
            for k, (B, H, Z) in enumerate(SHAPES):
                check(make_case(op, B, H, Z, "gelu", dtype, seed=k), dtype)
                n += 1
    torch.cuda.synchronize()
    print(f"cuda_sanitize: {n} cases, forward and backward, match the reference")


if __name__ == "__main__":
    main()
