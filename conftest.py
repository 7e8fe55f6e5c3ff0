"""Collection rules shared by ``tests/`` and the docstring examples of ``blackbox_saliency/``.

pyproject.toml runs both (``testpaths`` and ``--doctest-modules``). The examples of a module that needs
an optional dependency are skipped, with the extra to install, when that dependency is missing: the
dependencies the module imports at its top, found by reading its source, and those its examples reach
through a lazy import (:data:`EXAMPLES_NEED`).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from _pytest.doctest import DoctestModule

PACKAGE = Path(__file__).resolve().parent / "blackbox_saliency"

# import name -> the extra of pyproject.toml that installs it
OPTIONAL = {
    "av": "video",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxscript": "onnx",
    "captum": "baselines",
    "pytorch_grad_cam": "baselines",
    "skimage": "demo",
    "matplotlib": "demo",
    "sklearn": "demo",
}

# module (relative to the package) -> optional packages its examples import lazily, through the code they call
EXAMPLES_NEED = {
    "sample_photos.py": ("skimage",),
    "baselines/gradcam.py": ("pytorch_grad_cam",),
}


def _top_level_imports(path: Path) -> set[str]:
    """First components of the modules ``path`` imports outside functions and classes."""
    names: set[str] = set()
    pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            pending.extend(ast.iter_child_nodes(node))
    return names


def missing_dependencies(path: Path) -> list[str]:
    """The optional packages the examples of the package module ``path`` need and that are not installed."""
    relative = path.relative_to(PACKAGE).as_posix()
    needed = (_top_level_imports(path) & OPTIONAL.keys()) | set(EXAMPLES_NEED.get(relative, ()))
    return sorted(name for name in needed if importlib.util.find_spec(name) is None)


class MissingDependency(pytest.File):
    """Stands in for a module whose examples cannot run here: collecting it skips with ``reason``."""

    reason = ""

    def collect(self) -> list[pytest.Item]:
        pytest.skip(f"{self.path.relative_to(PACKAGE.parent).as_posix()}: {self.reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    if file_path.suffix != ".py" or not outcome.get_result():
        return
    if PACKAGE not in file_path.parents:  # tests hold no examples: import them once, report their errors once
        outcome.force_result([c for c in outcome.get_result() if not isinstance(c, DoctestModule)])
        return
    missing = missing_dependencies(file_path)
    if missing:
        extras = sorted({OPTIONAL[name] for name in missing})
        stand_in = MissingDependency.from_parent(parent, path=file_path)
        stand_in.reason = f"the examples need {', '.join(missing)}: pip install -e '.[{','.join(extras)}]'"
        outcome.force_result([stand_in])
