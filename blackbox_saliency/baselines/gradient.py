"""Vanilla gradient saliency (Simonyan et al., 2014) as a masker.

The map is ``max_c |d z_class / d x_c|`` (largest absolute gradient of the
class logit over the three colour channels), min-max scaled per image to
[0, 1] so that it is a valid mask.

Backends: ``"captum"`` uses Captum's ``Saliency`` (the optional extra
``blackbox-saliency[baselines]``); ``"torch"`` is the same computation with
one ``torch.autograd.grad`` call, built in so that the baseline works without
the extra; ``"auto"`` (default) picks Captum when it is installed.

Example:
    >>> import torch
    >>> from blackbox_saliency import load_classifier
    >>> from blackbox_saliency.baselines.gradient import GradientMasker
    >>> net = load_classifier("torchvision:resnet18", weights=None).eval()
    >>> masks = GradientMasker(net, backend="torch")(torch.rand(2, 3, 64, 64), torch.tensor([1, 7]))
    >>> masks.shape, bool(masks.min() >= 0), bool(masks.max() <= 1)
    (torch.Size([2, 1, 64, 64]), True, True)
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from ..errors import InputError
from .base import ClassifierMasker, normalise_per_image, require_extra

__all__ = ["GradientMasker", "BACKENDS"]

BACKENDS = ("auto", "captum", "torch")


def _captum_installed() -> bool:
    return importlib.util.find_spec("captum") is not None


class GradientMasker(ClassifierMasker):
    """Masks from the input gradient of the class logit.

    Args:
        classifier: the black box (must be differentiable).
        backend: ``"auto"``, ``"captum"`` or ``"torch"`` (see module docs).
    """

    method = "gradient"

    def __init__(self, classifier: nn.Module, backend: str = "auto") -> None:
        super().__init__(classifier)
        if backend not in BACKENDS:
            raise InputError(f"`backend` must be one of {BACKENDS}, got {backend!r}.")
        if backend == "auto":
            backend = "captum" if _captum_installed() else "torch"
        if backend == "captum":
            require_extra("captum", "the 'gradient' baseline with backend='captum'")
        self.backend = backend

    def raw_gradients(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Gradient of the class logit with respect to the images, (B, 3, H, W)."""
        with torch.enable_grad():
            inputs = images.detach().clone().requires_grad_(True)
            if self.backend == "captum":
                from captum.attr import Saliency

                return Saliency(self.classifier).attribute(inputs, target=classes, abs=False).detach()
            logits = self.classifier(inputs)
            selected = logits.gather(1, classes.view(-1, 1)).sum()
            (grads,) = torch.autograd.grad(selected, inputs)
            return grads.detach()

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Return (B, 1, H, W) masks in [0, 1]: per-pixel max over channels of |gradient|, scaled per image."""
        grads = self.raw_gradients(images, classes)
        return normalise_per_image(grads.abs().amax(dim=1, keepdim=True)).to(images.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, backend={self.backend!r}"
