"""Builds the bottleneck op ahead of time, against the torch already installed.

torch is deliberately not a build requirement in pyproject.toml: pip would otherwise
install a second (multi-GB, possibly different) torch into an isolated build environment
and compile against that. Install torch first, then build without isolation:

    pip install torch && pip install --no-build-isolation -e .

CPU kernels are always built. CUDA kernels are built when torch is a CUDA build and the
CUDA toolkit (nvcc) is found; FORCE_CUDA=1 builds them without a GPU present, FORCE_CUDA=0
never. TORCH_CUDA_ARCH_LIST overrides the architectures (default sm_75 to sm_90 + PTX).
"""

import os
import sys
from pathlib import Path

from setuptools import setup

try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError:
    sys.exit("aegui: building the extension needs torch installed first, then "
             "'pip install --no-build-isolation ...' (see README.md, 'How the op is built').")

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"


def want_cuda() -> bool:
    forced = os.environ.get("FORCE_CUDA")
    if forced is not None:
        return forced == "1"
    return torch.version.cuda is not None and CUDA_HOME is not None


# at::parallel_for is inline OpenMP: without -fopenmp the op would run on one thread. On
# Linux the extension then shares torch's own OpenMP runtime (the same libgomp.so.1).
OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []


def extension():
    sources = [str(p.relative_to(ROOT)) for p in [*sorted(CSRC.glob("*.cpp")), *sorted((CSRC / "cpu").glob("*.cpp"))]]
    cxx = ["-O3", "-std=c++17", *OPENMP]
    if not want_cuda():
        return CppExtension("aegui._C", sources, include_dirs=[str(CSRC)], extra_compile_args={"cxx": cxx},
                            extra_link_args=OPENMP)
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "7.5;8.0;8.6;8.9;9.0+PTX")
    sources += [str(p.relative_to(ROOT)) for p in sorted((CSRC / "cuda").glob("*.cu"))]
    return CUDAExtension("aegui._C", sources, include_dirs=[str(CSRC)],
                         define_macros=[("WITH_CUDA", None)],
                         extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "-std=c++17"]},
                         extra_link_args=OPENMP)


setup(ext_modules=[extension()], cmdclass={"build_ext": BuildExtension})
