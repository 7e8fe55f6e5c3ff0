"""setup.py's choice of native kernels: CUDA only where a GPU can run them, or when asked (a fast CPU-only install)."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

SETUP = Path(__file__).resolve().parent.parent / "setup.py"


@pytest.fixture
def cuda_wanted(monkeypatch):
    import setuptools

    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: None)  # read setup.py's functions, build nothing
    return runpy.run_path(str(SETUP), run_name="setup_under_test")["_cuda_wanted"]


def _torch(cuda_build: bool, gpu: bool):
    return SimpleNamespace(
        version=SimpleNamespace(cuda="13.0" if cuda_build else None), cuda=SimpleNamespace(is_available=lambda: gpu)
    )


# (torch is a CUDA build, a GPU is visible), BLACKBOX_SALIENCY_BUILD_CUDA=1, CUDA kernels built, why not
@pytest.mark.parametrize(
    ("machine", "asked", "want", "reason"),
    [
        ((True, False), False, False, "no usable CUDA device; set BLACKBOX_SALIENCY_BUILD_CUDA=1"),  # this machine
        ((True, False), True, True, ""),
        ((True, True), False, True, ""),
        ((False, True), True, False, "not a CUDA build"),
    ],
)
def test_cuda_kernels_are_built_only_where_they_run_or_when_asked(
    cuda_wanted, monkeypatch, machine, asked, want, reason
):
    monkeypatch.delenv("BLACKBOX_SALIENCY_NO_CUDA", raising=False)
    if asked:
        monkeypatch.setenv("BLACKBOX_SALIENCY_BUILD_CUDA", "1")
    else:
        monkeypatch.delenv("BLACKBOX_SALIENCY_BUILD_CUDA", raising=False)
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: "/bin/true")  # a "working nvcc" for the decision only
    decided, why = cuda_wanted(_torch(*machine), "/nonexistent")
    assert decided is want and reason in why
