"""Child process that compiles the bottleneck library with ninja (see _extension.py).

Run as ``python -m aegui.ops._build FOLDER WITH_CUDA``; kept apart from the app so the
parent can time it out and carry on with the reference when anything goes wrong.
"""

import sys

from torch.utils.cpp_extension import load

from aegui.ops._extension import LIB_NAME, source_dir, source_files


# at::parallel_for is inline OpenMP: without it the op runs on one thread (see setup.py).
OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []
# Lets the pen's square roots vectorise (see setup.py).
NO_ERRNO = ["-fno-math-errno"]


def main(folder: str, with_cuda: bool) -> None:
    load(
        name=LIB_NAME,
        sources=[str(p) for p in source_files(with_cuda)],
        build_directory=folder,
        extra_include_paths=[str(source_dir())],
        extra_cflags=["-O3", *NO_ERRNO, *OPENMP] + (["-DWITH_CUDA"] if with_cuda else []),
        extra_ldflags=OPENMP,
        extra_cuda_cflags=["-O3"],
        is_python_module=False,
        verbose=False,
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "1")
