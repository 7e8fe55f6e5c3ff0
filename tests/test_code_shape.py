"""Shape limits that keep the package readable, checked from the source with ``ast``.

* no function body over 50 lines (the docstring not counted);
* no module of the trainer (``training/``) over 350 lines.

Line length, complexity (C901) and argument counts (PLR0913) are ruff's checks (``pyproject.toml``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import blackbox_saliency

PACKAGE_DIR = Path(blackbox_saliency.__file__).resolve().parent
MAX_FUNCTION_LINES = 50
MAX_TRAINING_MODULE_LINES = 350


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    first = body[0]
    if (
        len(body) > 1
        and isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]
    return node.end_lineno - body[0].lineno + 1


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """``(name, body lines)`` of each function of ``source`` whose body (without docstring) exceeds ``limit`` lines."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > limit:
            found.append((node.name, _body_lines(node)))
    return found


def test_the_counter_counts_bodies_without_docstrings():
    body = "\n".join(f"    x{i} = {i}" for i in range(51))
    assert long_functions(f'def f():\n    """Doc.\n\n    More.\n    """\n{body}\n') == [("f", 51)]
    assert long_functions(f'def f():\n    """Doc."""\n{body[: body.rindex(chr(10))]}\n') == []


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_no_function_is_longer_than_fifty_lines(path):
    assert long_functions(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", sorted((PACKAGE_DIR / "training").glob("*.py")), ids=lambda p: p.name)
def test_no_trainer_module_is_longer_than_350_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_TRAINING_MODULE_LINES, f"{path.name} has {lines} lines"
