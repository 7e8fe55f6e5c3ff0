"""Registers the built-in baselines through the plugin hooks.

Names: ``gradient``, ``gradcam``, ``cam``, ``iterative``, ``center``, ``full``, ``gt``.
Each factory takes ``classifier=`` (the black box; optional for ``center``,
``full`` and ``gt``) plus the options of its class. Modules are imported
lazily so that listing plugins stays fast.

Example:
    >>> from blackbox_saliency import load_masker
    >>> load_masker("full")
    FullMasker()
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..plugins.hookspecs import hookimpl

# name -> (module of this package, class): each class takes the black box first, then its options.
_CLASSES = {
    "gradient": ("gradient", "GradientMasker"),
    "gradcam": ("gradcam", "GradCamMasker"),
    "cam": ("cam", "CamMasker"),
    "iterative": ("iterative", "IterativeMasker"),
    "center": ("boxes", "CenterBoxMasker"),
    "full": ("boxes", "FullMasker"),
    "gt": ("boxes", "GroundTruthMasker"),
}


def _factory(name: str, module: str, class_name: str) -> Callable[..., object]:
    def build(classifier=None, **kwargs):
        cls = getattr(importlib.import_module(f".{module}", __package__), class_name)
        return cls(classifier, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"Build the {name!r} baseline: ``{class_name}(classifier, **kwargs)`` "
        f"from ``blackbox_saliency.baselines.{module}``."
    )
    return build


BASELINES = {name: _factory(name, module, class_name) for name, (module, class_name) in _CLASSES.items()}


@hookimpl
def blackbox_saliency_maskers():
    return dict(BASELINES)
