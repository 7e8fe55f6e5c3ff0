"""Shared by the manager and encoder tests: a private plugin manager, and a plugin whose hook of one kind is broken
in one of three ways."""

from __future__ import annotations

import pluggy

from blackbox_saliency.plugins import hookspecs

#: how the hook is broken -> the words of the PluginWarning (after the hook's name)
BROKEN_HOOKS = {
    "returns_list": "returned list; it must return a dict",
    "raises": "raised ZeroDivisionError: division by zero",
    "bad_factory": "offered 'x' -> int; names must be strings and factories callables",
    "exits": "raised SystemExit: 3",
    "mapping_raises": "raised RuntimeError: no iteration",
}


class _MappingThatRaises(dict):
    def items(self):
        raise RuntimeError("no iteration")


def broken_plugin(kind: str, broken: str) -> object:
    """A plugin object whose ``blackbox_saliency_<kind>`` hook returns a list, raises (SystemExit too), returns a
    mapping that raises when iterated, or offers a non-callable."""

    def hook(self):
        if broken == "returns_list":
            return ["not", "a", "dict"]
        if broken == "raises":
            return 1 / 0
        if broken == "exits":
            raise SystemExit(3)
        if broken == "mapping_raises":
            return _MappingThatRaises(x=int)
        return {"x": 3}

    hook_name = f"blackbox_saliency_{kind}"
    hook.__name__ = hook_name
    return type("Broken", (), {hook_name: hookspecs.hookimpl(hook)})()


def plugin_manager(*plugins: object) -> pluggy.PluginManager:
    """A plugin manager of this library's hook specs holding only ``plugins`` (named ``<class>-plugin-<index>``)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"{type(plugin).__name__.lower()}-plugin-{index}")
    return pm
