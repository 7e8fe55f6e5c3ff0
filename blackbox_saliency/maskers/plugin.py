"""Registers the shipped trained maskers and the built-in encoders through the plugin hooks.

Every ``blackbox_saliency/assets/maskers/<name>.pt`` (with its ``<name>.md`` model card)
becomes the masker ``<name>``, loaded by
:func:`~blackbox_saliency.maskers.checkpoint.load_masker_checkpoint`. With no such
files the hook offers nothing. The masker-architectures hook offers ``saliency_masker``
(:class:`~blackbox_saliency.maskers.model.SaliencyMasker`). The encoders hook offers
:func:`~blackbox_saliency.maskers.encoders.builtin_encoders` (``efficientnet_lite0``,
the CIFAR ResNets and torchvision's ResNets).

Example:
    >>> from blackbox_saliency.maskers.plugin import blackbox_saliency_encoders, shipped_masker_paths
    >>> isinstance(shipped_masker_paths(), dict)
    True
    >>> "resnet18" in blackbox_saliency_encoders()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..plugins.hookspecs import hookimpl

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets" / "maskers"


def shipped_masker_paths(folder: Path | None = None) -> dict[str, Path]:
    """``{name: path}`` of the ``<name>.pt`` files in ``folder`` (default: the package's assets; empty when absent)."""
    folder = ASSETS_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.glob("*.pt")) if path.is_file()}


def _loader(path: Path) -> Callable[..., object]:
    def load(**kwargs: object):
        from .checkpoint import load_masker_checkpoint

        return load_masker_checkpoint(path, **kwargs)

    load.__name__ = f"load_{path.stem}"
    load.__doc__ = f"Load the shipped masker {path.name}."
    return load


@hookimpl
def blackbox_saliency_maskers():
    return {name: _loader(path) for name, path in shipped_masker_paths().items()}


@hookimpl
def blackbox_saliency_masker_architectures():
    from .model import SaliencyMasker

    return {SaliencyMasker.architecture: SaliencyMasker}


@hookimpl
def blackbox_saliency_encoders():
    from .encoders import builtin_encoders

    return builtin_encoders()
