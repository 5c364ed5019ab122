"""``aegui doctor``: this installation and its machine as plain text, for a bug report.

Versions (Python, torch and its CUDA, Qt, PySide6, pyqtgraph, numpy), the op's backend and
CPU kernels, the GPUs, Qt's platform and the system libraries its plugins lack, and the
data and model folders. Each section is gathered on its own: one that fails says why and
the others still print. It never compiles the op: a prebuilt library that does not load is
reported with the reason and the JIT build it would fall back to.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["report"]

WIDTH = 12   # of the label column


def report(env: dict[str, str] | None = None) -> str:
    """The whole report; ``env`` stands in for ``os.environ`` (tests)."""
    env = dict(os.environ if env is None else env)
    lines = ["aegui doctor (paste all of it into a bug report)", ""]
    for title, section in (("versions", _versions), ("op", _op), ("GPUs", _gpus), ("Qt", _qt),
                           ("folders", _folders)):
        lines.append(f"[{title}]")
        try:
            lines += [_row(k, v) for k, v in section(env)]
        except Exception as err:   # a broken part is itself the news: report it and go on
            lines.append(_row("error", f"{type(err).__name__}: {err}"))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _row(key: str, value: str) -> str:
    return f"  {key:<{WIDTH}} {value}"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _versions(env) -> list[tuple[str, str]]:
    import aegui

    libc = " ".join(platform.libc_ver()).strip()
    rows = [("aegui", f"{aegui.__version__} at {Path(aegui.__file__).parent} ({_install_kind()})"),
            ("Python", f"{platform.python_version()} ({platform.python_implementation()}) {sys.executable}"),
            ("system", f"{platform.platform()}" + (f", {libc}" if libc else ""))]
    for name, dists in (("torch", ("torch",)), ("numpy", ("numpy",)), ("PySide6", ("PySide6-Essentials", "PySide6")),
                        ("pyqtgraph", ("pyqtgraph",)), ("Pillow", ("Pillow",)), ("tqdm", ("tqdm",)),
                        ("ninja", ("ninja",))):
        found = [f"{d} {v}" if len(dists) > 1 else v for d in dists if (v := _version(d)) != "not installed"]
        rows.append((name, ", ".join(found) or "not installed"))
    import torch

    rows.append(("torch CUDA", f"{torch.version.cuda or 'none (a CPU build)'}"
                 + (f", cuDNN {torch.backends.cudnn.version()}" if torch.version.cuda else "")))
    return rows


def _install_kind() -> str:
    import aegui
    from aegui.resources import resources_dir

    inside = resources_dir().parent == Path(aegui.__file__).resolve().parent
    return "an installed package" if inside else "a source checkout or editable install"


def _op(env) -> list[tuple[str, str]]:
    import importlib

    import torch

    from aegui.evaluate import cpu_name
    from aegui.ops import _extension

    rows = [("CPU", f"{cpu_name()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}, "
                    f"flags {_cpu_flags()}")]
    forced = env.get(_extension.BACKEND_ENV, "")
    if forced:
        rows.append((_extension.BACKEND_ENV, forced))
    try:
        importlib.import_module("aegui._C")
        prebuilt = None
    except (ImportError, OSError) as err:
        prebuilt = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if prebuilt is not None:
        rows.append(("prebuilt", f"does not load: {prebuilt}"))
        jit = _extension.build_dir(_extension.cuda_buildable()) / f"{_extension.LIB_NAME}.so"
        rows.append(("JIT build", f"{jit} ({'built' if jit.is_file() else 'not built yet: compiled on first use'}), "
                                  f"sources {_extension.source_dir()}"))
        if not jit.is_file():
            return rows     # never compile here
    from aegui import ops

    status = ops.library_status()
    rows.append(("library", f"{status.how or 'not loaded'}" + (f" ({status.reason})" if status.reason else "")
                 + (", with CUDA kernels" if status.has_cuda else "")))
    isa = torch.ops.aegui.cpu_isa("") if status.loaded else "n/a"
    rows.append(("backend", f"cpu: {ops.backend('cpu')} (kernels {isa})"
                 + (f", cuda: {ops.backend('cuda')}" if torch.cuda.is_available() else "")))
    return rows


def _cpu_flags() -> str:
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl")
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return " ".join(f for f in wanted if f in present) or "none of " + "/".join(wanted)
    except OSError:
        pass
    return "unknown"


def _gpus(env) -> list[tuple[str, str]]:
    import torch

    if not torch.version.cuda:
        return [("CUDA", "not in this torch build")]
    if not torch.cuda.is_available():
        return [("CUDA", f"torch {torch.version.cuda} sees no GPU (CUDA_VISIBLE_DEVICES="
                         f"{env.get('CUDA_VISIBLE_DEVICES', '(unset)')})")]
    rows = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        rows.append((f"cuda:{i}", f"{p.name}, sm_{p.major}{p.minor}, {p.total_memory / 2**30:.0f} GiB"))
    return rows


def _qt(env) -> list[tuple[str, str]]:
    from aegui import qt_platform

    shown = ", ".join(f"{k}={env[k]}" if env.get(k) else f"{k} unset"
                      for k in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"))
    rows = [("Qt", _qt_version()), ("session", shown),
            ("tries", " then ".join(qt_platform.qt_platform_choice(env)))]
    for name in ("xcb", "wayland", "offscreen"):
        plugin = qt_platform.platform_plugin(name)
        if plugin is None:
            rows.append((name, "no plugin in PySide6"))
            continue
        missing = qt_platform.missing_libraries(plugin)
        rows.append((name, f"{plugin}: " + (f"MISSING {', '.join(missing)}" if missing else "all libraries found")))
        rows += [("", line) for line in qt_platform.install_lines(missing)]
    problem = qt_platform.preflight(env)
    rows.append(("window", "would not open: " + problem.splitlines()[0].removeprefix("aegui: ") if problem
                 else "nothing seen that would stop it"))
    return rows


def _qt_version() -> str:
    try:
        from PySide6.QtCore import qVersion
    except ImportError as err:
        return f"PySide6 does not import: {err}"
    return qVersion()


def _folders(env) -> list[tuple[str, str]]:
    from aegui import data, user_models
    from aegui.models import zoo
    from aegui.ops._extension import cache_root

    chosen = env.get(data.ENV_VAR)
    rows = [(f"${data.ENV_VAR}", f"{chosen} ({_exists(Path(chosen).expanduser())})" if chosen else "unset "
             "(aegui train/eval then need --data)"),
            ("shipped", f"{zoo.MODELS_DIR}: {', '.join(zoo.available()) or 'NONE'}")]
    app_data = _app_data_dir()
    if app_data is None:
        rows.append(("app data", "unknown (Qt does not import)"))
    else:
        mine = user_models.list_models(app_data / "models")
        drawings = sum(1 for _ in (app_data / "drawings").glob("[0-9]/*.png")) if (app_data / "drawings").is_dir() else 0
        rows += [("app data", f"{app_data} ({_exists(app_data)})"),
                 ("your models", f"{len(mine)}" + (f": {', '.join(p.name for p in mine[:8])}" if mine else "")),
                 ("drawings", f"{drawings} files")]
    rows.append(("op cache", f"{cache_root()} ({_exists(cache_root())})"))
    return rows


def _exists(path: Path) -> str:
    return "exists" if path.exists() else "does not exist"


def _app_data_dir() -> Path | None:
    """Where the app keeps drawings and models: Qt's AppDataLocation for its names."""
    try:
        from PySide6.QtCore import QCoreApplication, QStandardPaths
    except ImportError:
        return None
    from aegui.gui.settings import APPLICATION, ORGANIZATION

    restore: list[tuple[Callable, str]] = [(QCoreApplication.setOrganizationName, QCoreApplication.organizationName()),
                                           (QCoreApplication.setApplicationName, QCoreApplication.applicationName())]
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    try:
        return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    finally:
        for setter, value in restore:
            setter(value)
