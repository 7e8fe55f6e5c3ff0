"""Build the maskers an evaluation compares, from method names.

A method is ``masker`` (a trained masker given by registered name or checkpoint
path, loaded with :func:`blackbox_saliency.load_masker`) or the name of any
registered masker: the built-in baselines ``gradient``, ``gradcam``, ``cam``,
``iterative``, ``center``, ``full``, ``gt``, and those of installed plugins.
Registered maskers are built with ``classifier=`` the black box plus the
method's options.

Example:
    >>> from blackbox_saliency.evaluation.methods import parse_methods
    >>> parse_methods("center, full")
    ['center', 'full']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from ..devices import module_device
from ..errors import InputError, PluginError
from ..interfaces import Masker

__all__ = [
    "MASKER",
    "MASKER_NEEDED",
    "BASELINE_METHODS",
    "valid_methods",
    "parse_methods",
    "build_method",
    "build_methods",
]

MASKER = "masker"
#: The built-in baselines' method names, in the order :func:`valid_methods` lists them (the masker plugins of
#: :mod:`blackbox_saliency.baselines.plugin` build them).
BASELINE_METHODS = ("gradient", "gradcam", "cam", "iterative", "center", "full", "gt")
MASKER_NEEDED = "the method 'masker' needs a trained masker: pass --masker NAME|PATH (or masker=...)."


def valid_methods() -> list[str]:
    """``masker`` followed by every registered masker name (built-in baselines first)."""
    from ..plugins.manager import registry

    names = [n for n in registry("maskers") if n != MASKER]
    ordered = [n for n in BASELINE_METHODS if n in names] + sorted(n for n in names if n not in BASELINE_METHODS)
    return [MASKER, *ordered]


def parse_methods(text: str | Sequence[str]) -> list[str]:
    """Split ``"a,b,c"`` into names, refusing unknown or repeated ones (the error lists the valid names)."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n and n.strip()]
    if not names:
        raise InputError(f"no method given; choose from {', '.join(valid_methods())}.")
    valid = valid_methods()
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise PluginError(f"unknown method(s) {', '.join(map(repr, unknown))}; valid methods: {', '.join(valid)}.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"method(s) listed twice: {', '.join(repeated)}.")
    return names


def build_method(name: str, classifier: nn.Module, masker: str | None = None, **options: object) -> Masker:
    """Build one method's masker, on the classifier's device, in eval mode."""
    from ..maskers.loading import load_masker
    from ..maskers.plugin import shipped_masker_paths

    if name == MASKER:
        if not masker:
            raise InputError(MASKER_NEEDED)
        built = load_masker(masker, **options)
    elif name in shipped_masker_paths():  # a trained masker shipped in the package: it knows its black box already
        built = load_masker(name, **options)
    else:
        built = load_masker(name, classifier=classifier, **options)
    if not isinstance(built, nn.Module):
        raise PluginError(
            f"the masker factory for {name!r} returned {type(built).__name__}, not a torch.nn.Module Masker."
        )
    return built.to(module_device(classifier)).eval()


def build_methods(
    names: Sequence[str],
    classifier: nn.Module,
    masker: str | None = None,
    options: Mapping[str, Mapping[str, object]] | None = None,
) -> dict[str, Masker]:
    """Build every named method (``options[name]`` are its keyword options)."""
    options = options or {}
    return {name: build_method(name, classifier, masker, **dict(options.get(name, {}))) for name in names}
