"""Shared pieces of the baseline maskers.

:class:`ClassifierMasker` is the template base of the baselines that look at a
black box (gradient, Grad-CAM, iterative optimisation): it stores the
classifier and takes ``num_classes`` from it. :func:`normalise_per_image`
turns any non-negative saliency map into a valid mask in [0, 1].

Example:
    >>> import torch
    >>> from blackbox_saliency.baselines.base import normalise_per_image
    >>> m = normalise_per_image(torch.tensor([[[[0.0, 2.0], [1.0, 4.0]]]]))
    >>> m.flatten().tolist()
    [0.0, 0.5, 0.25, 1.0]
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from ..errors import InputError
from ..interfaces import BlackBoxClassifier, Masker, require_black_box

__all__ = ["ClassifierMasker", "normalise_per_image", "require_extra", "require_classifier"]

INSTALL_HINT = "pip install 'blackbox-saliency[baselines]'"


def normalise_per_image(maps: torch.Tensor) -> torch.Tensor:
    """Min-max scale each (1, H, W) map of a (B, 1, H, W) batch to [0, 1]; a constant map becomes zeros."""
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(flat))
    return scaled.clamp_(0.0, 1.0).reshape(maps.shape)


def require_extra(module: str, what: str):
    """Import an optional dependency or raise an ImportError telling how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{what} needs the optional package `{module}`; install the extra with `{INSTALL_HINT}`."
        ) from error


def require_classifier(classifier: object, method: str) -> BlackBoxClassifier:
    """Check that a baseline which looks at the black box was given one."""
    if classifier is None:
        raise InputError(f"the {method!r} baseline needs the black box: pass classifier=load_classifier(NAME).")
    return require_black_box(classifier, f"{method!r} baseline's classifier")


class ClassifierMasker(Masker):
    """Template base for baselines computed from the black box itself.

    Subclasses implement :meth:`forward`; the classifier is kept in eval mode
    and its parameters are never updated (gradients are taken with respect to
    the images or the mask only).
    """

    method = "classifier"

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = require_classifier(classifier, self.method)
        self.num_classes = self.classifier.num_classes

    def train(self, mode: bool = True) -> ClassifierMasker:
        """Baselines have nothing to train: the black box stays in eval mode whatever ``mode`` is."""
        super().train(mode)
        self.classifier.eval()
        return self

    def extra_repr(self) -> str:
        return f"classifier={type(self.classifier).__name__}"
