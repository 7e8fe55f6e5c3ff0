"""Masker architectures: build an untrained :class:`~blackbox_saliency.interfaces.TrainableMasker` by name.

An architecture is registered by a plugin's ``blackbox_saliency_masker_architectures`` hook
(``saliency_masker`` is :class:`~blackbox_saliency.maskers.model.SaliencyMasker`); the trainer builds new
maskers and the checkpoint reader rebuilds saved ones through :func:`build_trainable_masker`.

Example:
    >>> from blackbox_saliency.maskers.architectures import build_trainable_masker
    >>> masker = build_trainable_masker("saliency_masker", num_classes=10, encoder="resnet18", encoder_pretrained=False)
    >>> masker.architecture, masker.num_classes
    ('saliency_masker', 10)
"""

from __future__ import annotations

from ..errors import InputError
from ..interfaces import TrainableMasker
from ..plugins.manager import build

__all__ = ["build_trainable_masker"]


def build_trainable_masker(architecture: str, **config: object) -> TrainableMasker:
    """A new, untrained masker of the registered ``architecture`` built with ``config`` as keyword arguments.

    Raises:
        PluginError: no masker architecture of that name (the message lists those installed), or its
            factory failed.
        InputError: the factory built something other than a :class:`TrainableMasker` naming this architecture.
    """
    masker = build("masker_architectures", str(architecture), config)
    if not isinstance(masker, TrainableMasker):
        raise InputError(
            f"the masker architecture {architecture!r} built a {type(masker).__name__}, not a TrainableMasker; "
            "a masker-architecture plugin returns a blackbox_saliency.TrainableMasker subclass (or a factory of one)."
        )
    if masker.architecture != architecture:
        raise InputError(
            f"the masker architecture {architecture!r} built a {type(masker).__name__} whose `architecture` is "
            f"{masker.architecture!r}; set the class attribute `architecture = {architecture!r}` so that saved "
            "checkpoints can rebuild it."
        )
    return masker
