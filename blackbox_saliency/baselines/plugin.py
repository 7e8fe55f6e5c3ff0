"""Registers the built-in baselines through the plugin hooks."""

from __future__ import annotations

from ..plugins.hookspecs import hookimpl


@hookimpl
def blackbox_saliency_maskers():
    return {}
