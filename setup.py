"""Builds the bottleneck op ahead of time, against the torch already installed, and packs
the files the package ships.

torch is deliberately not a build requirement in pyproject.toml: pip would otherwise
install a second (multi-GB, possibly different) torch into an isolated build environment
and compile against that. Install torch first, then build without isolation:

    pip install torch && pip install --no-build-isolation -e .

An sdist needs no torch (``python -m build --sdist``); building the op without torch stops
with a message saying the above.

CPU kernels are always built. CUDA kernels are built when torch is a CUDA build and the
CUDA toolkit (nvcc) is found; FORCE_CUDA=1 builds them without a GPU present, FORCE_CUDA=0
never. TORCH_CUDA_ARCH_LIST overrides the architectures (default sm_75 to sm_90 + PTX).

Shipped files. The top-level ``resources/`` (the model zoo and its cards, reference data,
the icon) and ``csrc/`` (the op's sources, which the JIT fallback compiles when the
prebuilt library does not load) are the one source of truth. ``build_py`` copies them into
the built package as ``aegui/_resources`` and ``aegui/_csrc``, so a wheel, ``pip install .``
and an install from the sdist (MANIFEST.in carries both folders) hold them inside the
package, where ``aegui.resources`` finds them through ``importlib.resources``. An editable
install or a bare checkout has no copies: ``aegui.resources`` then reads the top-level
folders beside the package. Copying at build time, rather than moving the folders into the
package or linking them, keeps the checkout's layout and works on file systems without
symbolic links.

Rebuilds. pip's editable install (PEP 660) builds in a fresh temporary folder every time,
so ninja found no object files and compiled the whole op again, minutes on two cores, even
when nothing in ``csrc/`` had changed. ``build_ext`` here keeps its objects in
``build/op-<python>-torch<version>/`` instead; ninja then recompiles only sources whose
contents, headers or flags changed, and a wheel built after an editable install (or the
other way round) reuses the same objects.
"""

import os
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"
# Top-level folder -> its copy inside the built package.
SHIPPED = {"resources": "_resources", "csrc": "_csrc"}

try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError:
    torch = None

NEED_TORCH = ("aegui: building the extension needs torch installed first, then "
              "'pip install --no-build-isolation ...' (see README.md, 'How the op is built').")


class build_py_with_shipped_files(build_py):
    """The package's modules, plus copies of the shipped top-level folders."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return   # an editable install reads the top-level folders themselves
        for source, target in SHIPPED.items():
            self._copy_tree(ROOT / source, Path(self.build_lib, "aegui", target))

    def _copy_tree(self, source: Path, target: Path) -> None:
        if not source.is_dir():
            sys.exit(f"aegui: {source} is missing; the package cannot be built without it")
        if target.exists():
            shutil.rmtree(target)   # a file removed from the source must not linger in the build
        for path in sorted(source.rglob("*")):
            parts = path.relative_to(source).parts
            if path.is_dir() or any(p.startswith(".") or p == "__pycache__" for p in parts):
                continue
            out = target.joinpath(*parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(path), str(out), preserve_mode=False)


def want_cuda() -> bool:
    forced = os.environ.get("FORCE_CUDA")
    if forced is not None:
        return forced == "1"
    return torch.version.cuda is not None and CUDA_HOME is not None


# at::parallel_for is inline OpenMP: without -fopenmp the op would run on one thread. On
# Linux the extension then shares torch's own OpenMP runtime (the same libgomp.so.1).
OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []
# Nothing in the library reads errno, and setting it keeps a loop that takes a square root
# from being vectorised (csrc/cpu/raster_cpu.cpp: the pen's pixels, 3-4x faster without).
NO_ERRNO = ["-fno-math-errno"]


def sources(with_cuda: bool) -> list[str]:
    files = [*sorted(CSRC.glob("*.cpp")), *sorted((CSRC / "cpu").glob("*.cpp"))]
    if with_cuda:
        files += sorted((CSRC / "cuda").glob("*.cu"))
    return [str(p.relative_to(ROOT)) for p in files]


def extension():
    if torch is None:   # metadata and sdist only: build_ext below refuses to build it
        return Extension("aegui._C", sources(False))
    cxx = ["-O3", "-std=c++17", *NO_ERRNO, *OPENMP]
    if not want_cuda():
        return CppExtension("aegui._C", sources(False), include_dirs=[str(CSRC)], extra_compile_args={"cxx": cxx},
                            extra_link_args=OPENMP)
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "7.5;8.0;8.6;8.9;9.0+PTX")
    return CUDAExtension("aegui._C", sources(True), include_dirs=[str(CSRC)],
                         define_macros=[("WITH_CUDA", None)],
                         extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "-std=c++17"]},
                         extra_link_args=OPENMP)


if torch is None:
    class build_op(build_ext):
        def run(self):
            sys.exit(NEED_TORCH)
else:
    class build_op(BuildExtension):
        """torch's extension builder, with its object files kept between builds (see above)."""

        def finalize_options(self):
            super().finalize_options()
            tag = f"py{sys.version_info.major}{sys.version_info.minor}-torch{torch.__version__}"
            self.build_temp = str(ROOT / "build" / f"op-{tag}")


setup(ext_modules=[extension()], cmdclass={"build_ext": build_op, "build_py": build_py_with_shipped_files})
