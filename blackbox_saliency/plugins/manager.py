"""Discovery and loading of classifiers, encoders, evidence removers and maskers.

Built-ins and external plugins go through the same pluggy hooks; external
ones are found through the entry-point group ``blackbox_saliency``.

A broken plugin never takes the others down: a plugin whose module fails to
import, whose hook raises or returns the wrong type, or that implements a
hook this library does not define is skipped with a :class:`PluginWarning`
naming its distribution, entry point and error, and is listed by
:func:`plugin_problems` (``blackbox-saliency plugins`` shows them in a section
of their own). Two plugins claiming one name make only that name ambiguous.

Example:
    >>> from blackbox_saliency import available, load_evidence_remover
    >>> "blur" in available()["evidence_removers"]
    True
    >>> remover = load_evidence_remover("blur")
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import pluggy

from ..errors import BlackBoxSaliencyError, InputError, PluginError
from . import hookspecs

#: Plugin kind -> the hook that offers it.
PLUGIN_HOOKS = {
    "classifiers": "blackbox_saliency_classifiers",
    "encoders": "blackbox_saliency_encoders",
    "evidence_removers": "blackbox_saliency_evidence_removers",
    "maskers": "blackbox_saliency_maskers",
    "masker_architectures": "blackbox_saliency_masker_architectures",
}
HOOK_NAMES = frozenset(PLUGIN_HOOKS.values())

# Modules of this package that implement the hooks, registered like any plugin.
BUILTIN_PLUGIN_MODULES = (
    "blackbox_saliency.classifiers.plugin",
    "blackbox_saliency.evidence.plugin",
    "blackbox_saliency.maskers.plugin",
    "blackbox_saliency.baselines.plugin",
)


class PluginWarning(UserWarning):
    """A plugin was skipped (or part of it was) because it is broken; the message says which and why."""


@dataclass(frozen=True)
class Registration:
    """One named factory and where it came from."""

    name: str
    factory: hookspecs.Factory
    source: str


@dataclass(frozen=True)
class PluginProblem:
    """A plugin (or one name of it) that could not be used, with the reason."""

    source: str
    problem: str

    def __str__(self) -> str:
        return f"{self.source}: {self.problem}"


@dataclass
class KindScan:
    """Everything one hook offered: usable names, names claimed twice, and broken plugins."""

    found: dict[str, Registration] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)


_warned: set[PluginProblem] = set()
_load_problems: dict[int, list[PluginProblem]] = {}
_entry_point_sources: dict[str, str] = {}


def _report(problem: PluginProblem, into: list[PluginProblem]) -> None:
    into.append(problem)
    if problem not in _warned:
        _warned.add(problem)
        warnings.warn(f"skipping plugin {problem}", PluginWarning, stacklevel=3)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _unknown_hooks(plugin: object) -> list[str]:
    """Names on ``plugin`` that look like hooks of this library but are not one (misspellings)."""
    names = [n for n in dir(plugin) if n.startswith("blackbox_saliency") and callable(getattr(plugin, n, None))]
    return sorted(n for n in names if n not in HOOK_NAMES)


#: What third-party plugin code may raise without taking the library down: every exception, and ``SystemExit`` (an
#: argparse or ``sys.exit`` at import time); ``KeyboardInterrupt`` still stops the program.
_THIRD_PARTY_FAILURES = (Exception, SystemExit)


def _load_entry_points(pm: pluggy.PluginManager, problems: list[PluginProblem]) -> None:
    """Import and register every entry point of the group, isolating each failure."""
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for entry_point in dist.entry_points:
            if entry_point.group != hookspecs.ENTRY_POINT_GROUP:
                continue
            source = f"{dist.metadata['Name']} {dist.version} (entry point {entry_point.name!r})"
            if entry_point.name in seen:  # pluggy registers one plugin per name: the second is left out, and said so
                _report(
                    PluginProblem(
                        source,
                        f"declares the entry point name {entry_point.name!r} that {seen[entry_point.name]} already "
                        "declares; it was not loaded (rename one of the two entry points)",
                    ),
                    problems,
                )
                continue
            seen[entry_point.name] = source
            try:
                plugin = entry_point.load()
            except (
                _THIRD_PARTY_FAILURES
            ) as exc:  # any failure of third-party code is isolated here, SystemExit included
                _report(PluginProblem(source, f"importing {entry_point.value!r} failed: {_describe(exc)}"), problems)
                continue
            for name in _unknown_hooks(plugin):
                _report(
                    PluginProblem(
                        source,
                        f"defines {name!r}, which is not a hook of this library "
                        f"(known: {', '.join(sorted(HOOK_NAMES))}); check the spelling",
                    ),
                    problems,
                )
            try:
                pm.register(plugin, name=entry_point.name)
            except _THIRD_PARTY_FAILURES as exc:
                _report(PluginProblem(source, f"registering failed: {_describe(exc)}"), problems)
                continue
            _entry_point_sources[entry_point.name] = source


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, with built-ins and entry-point plugins registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGIN_MODULES:
        module = importlib.import_module(module_name)
        pm.register(module, name=f"builtin:{module_name.rsplit('.', 2)[-2]}")
    problems: list[PluginProblem] = []
    _load_entry_points(pm, problems)
    _load_problems[id(pm)] = problems
    return pm


def _plugin_source(pm: pluggy.PluginManager, plugin: object) -> str:
    name = pm.get_name(plugin) or repr(plugin)
    if name in _entry_point_sources:
        return _entry_point_sources[name]
    for registered, dist in pm.list_plugin_distinfo():
        if registered is plugin:
            return f"{dist.project_name} {dist.version} (entry point {name!r})"
    return name


def _offered_items(impl: object, hook_name: str, source: str, problems: list[PluginProblem]) -> list[tuple]:
    """The ``(name, factory)`` pairs one plugin's hook offers; none (with the problem reported) when it is broken."""
    try:
        offered = impl.function()
        items = list(offered.items()) if isinstance(offered, Mapping) else None
    except _THIRD_PARTY_FAILURES as exc:  # a third-party hook (or its mapping) raised: skip that plugin
        _report(PluginProblem(source, f"{hook_name}() raised {_describe(exc)}"), problems)
        return []
    if offered is None:
        return []
    if items is None:
        problem = f"{hook_name}() returned {type(offered).__name__}; it must return a dict of name -> factory"
        _report(PluginProblem(source, problem), problems)
        return []
    return items


def scan(kind: str, pm: pluggy.PluginManager | None = None) -> KindScan:
    """Call every plugin's hook of one kind; isolate the broken ones and mark names claimed twice."""
    if kind not in PLUGIN_HOOKS:
        raise PluginError(f"unknown plugin kind {kind!r}; choose one of {sorted(PLUGIN_HOOKS)}.")
    pm = pm or get_plugin_manager()
    hook_name = PLUGIN_HOOKS[kind]
    result = KindScan()
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        source = _plugin_source(pm, impl.plugin)
        for name, factory in _offered_items(impl, hook_name, source, result.problems):
            if not isinstance(name, str) or not callable(factory):
                _report(
                    PluginProblem(
                        source,
                        f"{hook_name}() offered {name!r} -> {type(factory).__name__}; "
                        "names must be strings and factories callables",
                    ),
                    result.problems,
                )
            elif name in result.ambiguous:
                result.ambiguous[name].append(source)
            elif name in result.found:
                result.ambiguous[name] = [result.found.pop(name).source, source]
            else:
                result.found[name] = Registration(name, factory, source)
    for name, sources in result.ambiguous.items():
        _report(
            PluginProblem(
                " and ".join(sources),
                f"both claim the {_singular(kind)} name {name!r}; "
                "it cannot be loaded until one is uninstalled or renamed",
            ),
            result.problems,
        )
    return result


def registry(kind: str, pm: pluggy.PluginManager | None = None) -> dict[str, Registration]:
    """Collect ``{name: Registration}`` for the usable names of one kind (broken plugins and clashing names left
    out)."""
    return scan(kind, pm).found


def plugin_problems(pm: pluggy.PluginManager | None = None) -> list[PluginProblem]:
    """Every plugin that failed to load or offered something unusable, with the reason."""
    pm = pm or get_plugin_manager()
    problems = list(_load_problems.get(id(pm), []))
    for kind in PLUGIN_HOOKS:
        problems.extend(p for p in scan(kind, pm).problems if p not in problems)
    return problems


def available() -> dict[str, dict[str, str]]:
    """Return ``{kind: {name: source}}`` for every usable plugin name."""
    return {kind: {n: r.source for n, r in sorted(registry(kind).items())} for kind in PLUGIN_HOOKS}


def _singular(kind: str) -> str:
    return kind[:-1].replace("_", " ")


def lookup(kind: str, name: str, unknown: type[BlackBoxSaliencyError] = PluginError) -> Registration:
    """The registration of ``name`` in ``kind``; raise PluginError when two plugins claim it, ``unknown`` when none
    offers it."""
    found = scan(kind)
    if name in found.ambiguous:
        raise PluginError(
            f"two plugins claim the {_singular(kind)} name {name!r}: {' and '.join(found.ambiguous[name])}; "
            "uninstall or rename one of them."
        )
    if name not in found.found:
        names = ", ".join(sorted(n for n in found.found if not n.startswith("torchvision:"))) or "(none)"
        extra = (
            " (and torchvision:<model_name> for any torchvision classification model)" if kind == "classifiers" else ""
        )
        raise unknown(
            f"no {_singular(kind)} named {name!r}. Available: {names}{extra}. "
            "Install the plugin package that provides it, or check the spelling "
            "(`blackbox-saliency plugins` lists them)."
        )
    return found.found[name]


def build(kind: str, name: str, kwargs: dict[str, object], unknown: type[BlackBoxSaliencyError] = PluginError):
    """Call the factory registered as ``name`` in ``kind`` with ``kwargs``; a failure of a plugin's factory is
    re-raised as PluginError naming the plugin (errors of this library pass through unchanged)."""
    registration = lookup(kind, name, unknown)
    try:
        return registration.factory(**kwargs)
    except BlackBoxSaliencyError:
        raise
    except Exception as exc:  # attribute a third-party factory's failure to its plugin
        raise PluginError(
            f"building the {_singular(kind)} {name!r} from {registration.source} failed: {_describe(exc)}"
        ) from exc


def load_classifier(name: str, **kwargs: object):
    """Build the black-box classifier registered as ``name``.

    Example:
        >>> from blackbox_saliency import load_classifier
        >>> net = load_classifier("torchvision:resnet18", weights=None)
        >>> net.num_classes
        1000

    ``torchvision:<model>@<weights>`` names torchvision weights too (``torchvision:resnet50@DEFAULT``,
    ``torchvision:resnet50@IMAGENET1K_V2``; downloaded by torchvision on first use, as ``weights=`` would be).
    """
    base, _, weights = name.partition("@") if name.startswith("torchvision:") else (name, "", "")
    if weights:  # "torchvision:resnet50@DEFAULT": the weights by name (downloaded by torchvision, cached by torch.hub)
        if "weights" in kwargs:
            raise InputError(f"{name!r} names weights and `weights=` is given too; pass one.")
        kwargs = {**kwargs, "weights": weights}
    net = build("classifiers", base, kwargs)
    try:
        net.registered_name = name  # lets a masker check that it explains the black box it was trained for
    except (AttributeError, TypeError):  # an object that takes no attributes
        pass
    return net


def load_evidence_remover(name: str, **kwargs: object):
    """Build the evidence remover registered as ``name`` (``blur``, ``colour_noise``, ``constant``, ``paper``...)."""
    return build("evidence_removers", name, kwargs)
