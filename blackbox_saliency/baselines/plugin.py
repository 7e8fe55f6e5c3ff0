"""Registers the built-in baselines through the plugin hooks.

Names: ``gradient``, ``gradcam``, ``iterative``, ``center``, ``full``, ``gt``.
Each factory takes ``classifier=`` (the black box; optional for ``center``,
``full`` and ``gt``) plus the options of its class. Modules are imported
lazily so that listing plugins stays fast.

Example:
    >>> from blackbox_saliency import load_masker
    >>> load_masker("full")
    FullMasker()
"""

from __future__ import annotations

from ..plugins.hookspecs import hookimpl


def gradient(classifier=None, **kwargs):
    from .gradient import GradientMasker

    return GradientMasker(classifier, **kwargs)


def gradcam(classifier=None, **kwargs):
    from .gradcam import GradCamMasker

    return GradCamMasker(classifier, **kwargs)


def iterative(classifier=None, **kwargs):
    from .iterative import IterativeMasker

    return IterativeMasker(classifier, **kwargs)


def center(classifier=None, **kwargs):
    from .boxes import CenterBoxMasker

    return CenterBoxMasker(classifier, **kwargs)


def full(classifier=None, **kwargs):
    from .boxes import FullMasker

    return FullMasker(classifier, **kwargs)


def gt(classifier=None, **kwargs):
    from .boxes import GroundTruthMasker

    return GroundTruthMasker(classifier, **kwargs)


BASELINES = {"gradient": gradient, "gradcam": gradcam, "iterative": iterative, "center": center, "full": full, "gt": gt}


@hookimpl
def blackbox_saliency_maskers():
    return dict(BASELINES)
