"""Registers the built-in evidence removers through the plugin hooks."""

from __future__ import annotations

from ..plugins.hookspecs import hookimpl
from .removers import ColourNoiseRemover, ConstantRemover, GaussianBlurRemover, PaperRemover


@hookimpl
def blackbox_saliency_evidence_removers():
    return {
        "blur": GaussianBlurRemover,
        "colour_noise": ColourNoiseRemover,
        "constant": ConstantRemover,
        "paper": PaperRemover,
    }
