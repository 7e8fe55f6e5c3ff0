"""The package's import graph has no cycle, counting imports inside functions, and the plugin registry is a leaf.

The graph is read from the source with ``ast`` (nothing is imported): an edge ``a -> b`` for every
``import``/``from ... import`` in module ``a`` (at any depth) that names module ``b`` of this package.
``from package import name`` is an edge to the submodule ``package.name`` when there is one, to the
submodule a lazy ``__init__`` maps ``name`` to (its ``_EXPORTS``/``_LAZY`` dict), else to ``package``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import blackbox_saliency

PACKAGE_DIR = Path(blackbox_saliency.__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _lazy_exports(package: str) -> dict[str, str]:
    """``{name: submodule}`` of a package ``__init__`` that imports its names on first use (PEP 562)."""
    found: dict[str, str] = {}
    for node in TREES[package].body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(t, ast.Name) and t.id in ("_EXPORTS", "_LAZY") for t in targets):
            mapping = ast.literal_eval(node.value)
            for name, where in mapping.items():
                found[name] = _resolve(package, where, is_package=True)
    return found


def _resolve(module: str, target: str, is_package: bool) -> str:
    """Absolute name of ``target`` (``.x``, ``..x``, ``blackbox_saliency.x``) imported from ``module``."""
    if not target.startswith("."):
        return target
    level = len(target) - len(target.lstrip("."))
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    rest = target.lstrip(".")
    return ".".join(base + ([rest] if rest else []))


def _edges(module: str) -> set[str]:
    is_package = MODULES[module].name == "__init__.py"
    edges: set[str] = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, "." * node.level + (node.module or ""), is_package)
            lazy = _lazy_exports(source) if source in MODULES and MODULES[source].name == "__init__.py" else {}
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                edges.add(submodule if submodule in MODULES else lazy.get(alias.name, source))
    return {edge for edge in edges if edge in MODULES and edge != module}


GRAPH = {module: _edges(module) for module in MODULES}


def _cycles() -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for nxt in sorted(GRAPH[module]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    return cycles


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_graph_sees_imports_inside_functions():
    assert f"{PACKAGE}.maskers.checkpoint" in GRAPH[f"{PACKAGE}.maskers.loading"]  # imported inside load_masker


def test_the_package_has_no_import_cycle():
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize(
    "leaf", ["plugins.manager", "plugins.hookspecs", "checkpoints", "safe_load", "atomic", "errors"]
)
def test_generic_layers_depend_on_nothing_specific(leaf):
    allowed = {
        f"{PACKAGE}.{name}" for name in ("errors", "_version", "atomic", "safe_load", "plugins", "plugins.hookspecs")
    }
    reached = _reachable(f"{PACKAGE}.{leaf}")
    assert reached <= allowed, f"{leaf} reaches {sorted(reached - allowed)}"


def test_a_cycle_would_be_found():
    GRAPH["__probe_a"], GRAPH["__probe_b"] = {"__probe_b"}, {"__probe_a"}
    try:
        assert any("__probe_a" in cycle for cycle in _cycles())
    finally:
        del GRAPH["__probe_a"], GRAPH["__probe_b"]
