"""Build script: the package metadata lives in pyproject.toml; this file adds the native extension.

The extension ``blackbox_saliency._C`` holds the fused mask kernels (csrc/). It is built with
torch.utils.cpp_extension: C++ (OpenMP-parallel) always, CUDA as well where torch is a CUDA build that
sees a GPU (or ``BLACKBOX_SALIENCY_BUILD_CUDA=1``) and a CUDA toolkit with a working ``nvcc`` is found.
Without torch at build time, or when the compilation fails, the package installs without it and
``blackbox_saliency.fast`` falls back to plain torch ops (``blackbox_saliency.fast.active_path()`` says which
path is active).

Environment switches:
    BLACKBOX_SALIENCY_NO_EXTENSION=1   build no extension at all.
    BLACKBOX_SALIENCY_NO_CUDA=1        build the C++ kernels only.
    BLACKBOX_SALIENCY_BUILD_CUDA=1     build the CUDA kernels even without a usable CUDA device (by default
                                       they are built only where torch sees a GPU: they take minutes to compile).
    BLACKBOX_SALIENCY_REQUIRE_EXTENSION=1  fail the build instead of falling back.
    TORCH_CUDA_ARCH_LIST               CUDA architectures (default here "8.0;9.0+PTX").

Development build: ``python setup.py build_ext --inplace``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
CSRC = "csrc"
CPU_SOURCES = [f"{CSRC}/bindings.cpp", f"{CSRC}/checks.cpp", f"{CSRC}/mask_blend_tv_cpu.cpp"]
CUDA_SOURCES = [f"{CSRC}/mask_blend_tv_cuda.cu"]
DEFAULT_CUDA_ARCHS = "8.0;9.0+PTX"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _warn(message: str) -> None:
    print(f"blackbox-saliency setup: WARNING: {message}", file=sys.stderr, flush=True)


def _nvcc_works(cuda_home: str | None) -> bool:
    if not cuda_home:
        return False
    nvcc = Path(cuda_home) / "bin" / "nvcc"
    candidate = str(nvcc) if nvcc.exists() else shutil.which("nvcc")
    if candidate is None:
        return False
    try:
        subprocess.run([candidate, "--version"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _point_cuda_home() -> None:
    """Set CUDA_HOME to a full toolkit when it is unset and ``nvcc`` on PATH is only a wrapper.

    torch.utils.cpp_extension takes the grandparent of ``which nvcc``; for a wrapper script such as
    /usr/local/bin/nvcc that is /usr/local, which has neither the CUDA headers nor libcudart.
    """
    if os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"):
        return
    candidates = []
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(Path(os.path.realpath(nvcc)).parent.parent)
    candidates.append(Path("/usr/local/cuda"))
    for home in candidates:
        if (home / "bin" / "nvcc").exists() and (home / "include" / "cuda_runtime_api.h").exists():
            os.environ["CUDA_HOME"] = str(home)
            return


def _cuda_wanted(torch, cuda_home: str | None) -> tuple[bool, str]:  # noqa: ANN001
    """Build the CUDA kernels? Only where they can run (a usable CUDA device) or when asked: compiling them takes
    minutes, wasted on a machine without a GPU. Returns the decision and, when no, the reason."""
    if _flag("BLACKBOX_SALIENCY_NO_CUDA"):
        return False, "BLACKBOX_SALIENCY_NO_CUDA is set"
    if torch.version.cuda is None:
        return False, "torch is not a CUDA build"
    if not (_flag("BLACKBOX_SALIENCY_BUILD_CUDA") or torch.cuda.is_available()):
        return False, "no usable CUDA device; set BLACKBOX_SALIENCY_BUILD_CUDA=1 to build the CUDA kernels anyway"
    if not _nvcc_works(cuda_home):
        return False, "no working nvcc"
    return True, ""


def _import_torch():  # noqa: ANN202 - (torch, torch.utils.cpp_extension), or None
    """torch and its extension builder, or None (with a warning) when torch is not importable at build time."""
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError as error:
        if _flag("BLACKBOX_SALIENCY_REQUIRE_EXTENSION"):
            raise
        _warn(
            f"torch is not importable at build time ({error}); building without the native extension (torch fallback)."
        )
        return None
    return torch, cpp_extension


def _compile_flags(torch) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """Compiler and linker flags of the C++ sources."""
    cxx_flags = ["-O3", "-g0"]  # -g0: no debug info (Python's CFLAGS add -g), a 10x smaller .so
    link_flags: list[str] = []
    if sys.platform != "win32" and "OpenMP" in torch.__config__.parallel_info():
        # at::parallel_for is an inline OpenMP region: without -fopenmp it runs on one thread.
        cxx_flags.append("-fopenmp")
        link_flags.append("-fopenmp")
    return cxx_flags, link_flags


def _make_extension(cpp_extension, cuda: bool, cxx_flags: list[str], link_flags: list[str]):  # noqa: ANN001, ANN202
    """The ``blackbox_saliency._C`` extension: C++ kernels, and CUDA kernels with ``cuda``."""
    common = dict(
        name="blackbox_saliency._C",
        sources=CPU_SOURCES + (CUDA_SOURCES if cuda else []),
        include_dirs=[str(ROOT / CSRC)],
        extra_link_args=link_flags,
    )
    if cuda:
        return cpp_extension.CUDAExtension(
            define_macros=[("BLACKBOX_SALIENCY_WITH_CUDA", "1")],
            extra_compile_args={"cxx": list(cxx_flags), "nvcc": ["-O3", "--fmad=false"]},
            **common,
        )
    return cpp_extension.CppExtension(extra_compile_args={"cxx": list(cxx_flags)}, **common)


def _optional_build(cpp_extension, cpu_only):  # noqa: ANN001, ANN202
    """A build_ext command that retries with ``cpu_only()`` when the CUDA kernels fail and installs without the
    extension when that fails too (unless BLACKBOX_SALIENCY_REQUIRE_EXTENSION is set)."""

    class OptionalBuildExtension(cpp_extension.BuildExtension):
        """Builds the extension; if CUDA fails retries C++ only; if that fails installs without it."""

        def build_extensions(self) -> None:
            try:
                super().build_extensions()
                return
            except Exception as error:  # noqa: BLE001 - any compiler failure means: fall back
                if _flag("BLACKBOX_SALIENCY_REQUIRE_EXTENSION"):
                    raise
                failure = error
            if any(source.endswith(".cu") for ext in self.extensions for source in ext.sources):
                _warn(f"building the CUDA kernels failed ({failure}); retrying with the C++ kernels only.")
                self.extensions = [cpu_only()]
                try:
                    super().build_extensions()
                    return
                except Exception as error:  # noqa: BLE001
                    failure = error
            _warn(f"building blackbox_saliency._C failed ({failure}); installing without it (torch fallback).")
            self.extensions = []

    return OptionalBuildExtension.with_options(use_ninja=True)


def _extension_setup() -> dict:
    """ext_modules and cmdclass for setup(), or {} when no extension can or should be built."""
    if _flag("BLACKBOX_SALIENCY_NO_EXTENSION"):
        _warn("BLACKBOX_SALIENCY_NO_EXTENSION is set: building without the native extension (torch fallback).")
        return {}
    _point_cuda_home()
    imported = _import_torch()
    if imported is None:
        return {}
    torch, cpp_extension = imported
    cxx_flags, link_flags = _compile_flags(torch)
    use_cuda, why_not = _cuda_wanted(torch, cpp_extension.CUDA_HOME)
    if use_cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", DEFAULT_CUDA_ARCHS)
        print(
            "blackbox-saliency setup: building C++ and CUDA kernels for "
            f"TORCH_CUDA_ARCH_LIST={os.environ['TORCH_CUDA_ARCH_LIST']}"
        )
    else:
        print(f"blackbox-saliency setup: building C++ kernels only ({why_not})")
    def cpu_only():  # noqa: ANN202
        return _make_extension(cpp_extension, False, cxx_flags, link_flags)

    return {
        "ext_modules": [_make_extension(cpp_extension, use_cuda, cxx_flags, link_flags)],
        "cmdclass": {"build_ext": _optional_build(cpp_extension, cpu_only)},
    }


setup(**_extension_setup())
