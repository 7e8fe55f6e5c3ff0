"""Discovery and loading of classifiers, evidence removers and maskers.

Built-ins and external plugins go through the same pluggy hooks; external
ones are found through the entry-point group ``blackbox_saliency``.

Example:
    >>> from blackbox_saliency import available, load_evidence_remover
    >>> "blur" in available()["evidence_removers"]
    True
    >>> remover = load_evidence_remover("blur")
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

import pluggy

from ..errors import PluginError
from . import hookspecs

KINDS = {
    "classifiers": "blackbox_saliency_classifiers",
    "evidence_removers": "blackbox_saliency_evidence_removers",
    "maskers": "blackbox_saliency_maskers",
}

# Modules of this package that implement the hooks, registered like any plugin.
BUILTIN_PLUGIN_MODULES = (
    "blackbox_saliency.classifiers.plugin",
    "blackbox_saliency.evidence.plugin",
    "blackbox_saliency.maskers.plugin",
    "blackbox_saliency.baselines.plugin",
)


@dataclass(frozen=True)
class Registration:
    """One named factory and where it came from."""

    name: str
    factory: hookspecs.Factory
    source: str


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, with built-ins and entry-point plugins registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGIN_MODULES:
        module = importlib.import_module(module_name)
        pm.register(module, name=f"builtin:{module_name.rsplit('.', 2)[-2]}")
    pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    return pm


def _plugin_source(pm: pluggy.PluginManager, plugin: object) -> str:
    name = pm.get_name(plugin) or repr(plugin)
    for registered, dist in pm.list_plugin_distinfo():
        if registered is plugin:
            return f"{dist.project_name} {dist.version} (entry point {name!r})"
    return name


def registry(kind: str, pm: pluggy.PluginManager | None = None) -> dict[str, Registration]:
    """Collect ``{name: Registration}`` for one kind, refusing names claimed twice."""
    if kind not in KINDS:
        raise PluginError(f"unknown plugin kind {kind!r}; choose one of {sorted(KINDS)}.")
    pm = pm or get_plugin_manager()
    caller = getattr(pm.hook, KINDS[kind])
    found: dict[str, Registration] = {}
    for impl in caller.get_hookimpls():
        source = _plugin_source(pm, impl.plugin)
        offered = impl.function() or {}
        if not isinstance(offered, dict):
            raise PluginError(f"plugin {source} returned {type(offered).__name__} from {KINDS[kind]}(); it must return a dict of name -> factory.")
        for name, factory in offered.items():
            if name in found:
                raise PluginError(
                    f"two plugins claim the {kind[:-1].replace('_', ' ')} name {name!r}: "
                    f"{found[name].source} and {source}; uninstall or rename one of them."
                )
            found[name] = Registration(name, factory, source)
    return found


def available() -> dict[str, dict[str, str]]:
    """Return ``{kind: {name: source}}`` for every discovered plugin name."""
    return {kind: {n: r.source for n, r in sorted(registry(kind).items())} for kind in KINDS}


def _lookup(kind: str, name: str) -> Registration:
    found = registry(kind)
    if name not in found:
        names = ", ".join(sorted(n for n in found if not n.startswith("torchvision:"))) or "(none)"
        extra = " (and torchvision:<model_name> for any torchvision classification model)" if kind == "classifiers" else ""
        raise PluginError(
            f"no {kind[:-1].replace('_', ' ')} named {name!r}. Available: {names}{extra}. "
            "Install the plugin package that provides it, or check the spelling (`blackbox-saliency plugins` lists them)."
        )
    return found[name]


def load_classifier(name: str, **kwargs: object):
    """Build the black-box classifier registered as ``name``.

    Example:
        >>> from blackbox_saliency import load_classifier
        >>> net = load_classifier("torchvision:resnet18", weights=None)
        >>> net.num_classes
        1000
    """
    return _lookup("classifiers", name).factory(**kwargs)


def load_evidence_remover(name: str, **kwargs: object):
    """Build the evidence remover registered as ``name`` (``blur``, ``colour_noise``, ``constant``, ``paper``...)."""
    return _lookup("evidence_removers", name).factory(**kwargs)


def load_masker(name_or_path: str | Path, **kwargs: object):
    """Build a registered masker by name, or load a trained masker checkpoint from a path.

    Example:
        >>> from blackbox_saliency import load_masker
        >>> masker = load_masker("center")  # the central-box baseline
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith((".pt", ".pth")) or Path(text).is_file():
        from ..maskers.checkpoint import load_masker_checkpoint

        return load_masker_checkpoint(Path(text), **kwargs)
    return _lookup("maskers", text).factory(**kwargs)
