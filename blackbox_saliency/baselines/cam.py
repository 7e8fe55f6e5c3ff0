"""Class activation maps (Zhou et al., 2016) as a one-pass baseline masker.

For a black box whose logits are a linear layer over a globally average-pooled feature map ``X``
(declared by :attr:`~blackbox_saliency.interfaces.BlackBoxClassifier.cam_layers`), the logit of
class ``c`` is the mean over locations of ``X_ij . W_c`` (+ bias), so ``relu(X_ij . W_c)`` says
where the evidence for ``c`` lies. One forward pass, no gradients, no training: the one-pass method
a trained masker has to beat. The map is upsampled bilinearly to the image size and scaled to [0, 1]
per image by its maximum (``normalise="class"``), or by the maximum over every class's map
(``normalise="all"``: a class the network barely sees gets a dim map, which is how the masking
model's class-activation prior is normalised).

Example:
    >>> import torch
    >>> from blackbox_saliency import load_classifier
    >>> from blackbox_saliency.baselines.cam import CamMasker
    >>> net = load_classifier("cifar10_resnet20", pretrained=False)
    >>> masks = CamMasker(net)(torch.rand(2, 3, 32, 32), torch.tensor([1, 7]))
    >>> masks.shape, bool(masks.amax(dim=(1, 2, 3)).le(1).all())
    (torch.Size([2, 1, 32, 32]), True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..interfaces import BlackBoxClassifier
from ..maskers.prior import class_activation_maps, normalise_cam
from .base import ClassifierMasker

__all__ = ["CamMasker", "NORMALISATIONS", "class_activation_maps", "normalise_cam"]

NORMALISATIONS = ("class", "all")


def _module(classifier: BlackBoxClassifier, path: str, role: str) -> nn.Module:
    modules = dict(classifier.named_modules())
    if path not in modules:
        raise InputError(
            f"{type(classifier).__name__}.cam_layers names {path!r} as its {role}, but it has no module of that path."
        )
    return modules[path]


class CamMasker(ClassifierMasker):
    """Class activation maps of a black box that declares ``cam_layers``.

    Args:
        classifier: a black box with :attr:`~blackbox_saliency.interfaces.BlackBoxClassifier.cam_layers`.
        normalise: ``"class"`` (each map by its own maximum, the usual CAM) or ``"all"`` (by the strongest
            class's maximum, so that a class the network does not see gets a dim map).
        floor: with ``"all"``, divide by ``max(own maximum, floor * strongest)`` instead (the masking model's prior).
    """

    method = "cam"

    def __init__(self, classifier: nn.Module, normalise: str = "class", floor: float = 1.0) -> None:
        super().__init__(classifier)
        if normalise not in NORMALISATIONS:
            raise InputError(f"`normalise` must be one of {NORMALISATIONS}, got {normalise!r}.")
        if self.classifier.cam_layers is None:
            raise InputError(
                f"{type(self.classifier).__name__} declares no `cam_layers` "
                "(its pooled feature layer and linear head), so the 'cam' baseline cannot read its class activation "
                "map; set `cam_layers = ('<feature layer>', '<linear head>')` on the classifier, "
                "or use the 'gradcam' baseline."
            )
        feature_path, head_path = self.classifier.cam_layers
        self.feature_layer = _module(self.classifier, feature_path, "feature layer")
        head = _module(self.classifier, head_path, "head")
        if not isinstance(head, nn.Linear) or head.out_features != self.num_classes:
            raise InputError(
                f"{type(self.classifier).__name__}.cam_layers head {head_path!r} must be an nn.Linear "
                f"to its {self.num_classes} classes."
            )
        self.head = head
        self.normalise = normalise
        if not 0.0 <= float(floor) <= 1.0:
            raise InputError(f"`floor` must lie in [0, 1], got {floor!r}.")
        self.floor = float(floor)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        handle = self.feature_layer.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
        try:
            with torch.no_grad():
                self.classifier(images)
        finally:
            handle.remove()
        if len(captured) != 1 or not isinstance(captured[0], torch.Tensor) or captured[0].dim() != 4:
            raise InputError(
                f"the CAM feature layer of {type(self.classifier).__name__} must run once per forward "
                "and output (B, C, h, w)."
            )
        if captured[0].shape[1] != self.head.in_features:
            raise InputError(
                f"the CAM feature layer gives {captured[0].shape[1]} channels "
                f"but the head takes {self.head.in_features}."
            )
        return captured[0]

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Return (B, 1, H, W) class activation maps in [0, 1] for the given classes."""
        features = self._features(images).float()
        weight = self.head.weight.detach().float()
        maps, strongest = class_activation_maps(features, weight, classes.to(features.device))
        maps = normalise_cam(maps, strongest if self.normalise == "all" else None, self.floor)
        maps = F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return maps.clamp_(0.0, 1.0).to(images.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, normalise={self.normalise!r}"
