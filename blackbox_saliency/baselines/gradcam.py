"""Grad-CAM (Selvaraju et al., 2017) on a named layer of a white-box classifier, as a masker.

The computation is pytorch-grad-cam's ``GradCAM`` (the optional extra
``blackbox-saliency[baselines]``); this module only picks the layer, keeps the
black box untouched (no parameter gradients, training flag restored) and turns
the CAM into a (B, 1, H, W) mask in [0, 1] on the images' device and dtype.

Layer names are module paths inside the classifier (``"network.layer3"``) or
inside its ``network`` (``"layer3"``). Without a name the layer is, in order:
the classifier's declared :attr:`~blackbox_saliency.interfaces.BlackBoxClassifier.gradcam_layer`
(each built-in classifier sets it; plugin authors may too), a usual last-stage
name of torchvision families, else the last ``nn.Conv2d`` of the network.

Example:
    >>> import torch
    >>> from blackbox_saliency import load_classifier
    >>> from blackbox_saliency.baselines.gradcam import GradCamMasker
    >>> net = load_classifier("torchvision:resnet18", weights=None)
    >>> masker = GradCamMasker(net, layer="layer4")
    >>> masker(torch.rand(2, 3, 64, 64), torch.tensor([1, 7])).shape
    torch.Size([2, 1, 64, 64])
"""

from __future__ import annotations

import torch
from torch import nn

from ..devices import evaluating
from ..errors import InputError
from ..interfaces import BlackBoxClassifier
from .base import ClassifierMasker, normalise_per_image, require_extra

__all__ = ["GradCamMasker", "resolve_layer", "default_layer_name"]

# torchvision families: the last stage, as usually chosen for Grad-CAM.
_STAGE_CANDIDATES = ("network.layer4", "network.features", "network.trunk_output")


def _last_conv_name(module: nn.Module) -> str | None:
    last = None
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            last = name
    return last


def default_layer_name(classifier: BlackBoxClassifier) -> str:
    """The layer Grad-CAM uses for ``classifier`` when none is named (see module docs)."""
    if classifier.gradcam_layer:
        return classifier.gradcam_layer
    names = dict(classifier.named_modules())
    for candidate in _STAGE_CANDIDATES:
        if candidate in names:
            return candidate
    last = _last_conv_name(classifier)
    if last is None:
        raise InputError(
            f"{type(classifier).__name__} has no nn.Conv2d layer, so Grad-CAM has no default layer; "
            "pass layer='<module path>' naming a layer with a (B, C, h, w) output."
        )
    return last


def resolve_layer(classifier: nn.Module, layer: str | None) -> tuple[str, nn.Module]:
    """Return ``(name, module)`` for ``layer`` (a path in the classifier or in its ``network``)."""
    name = default_layer_name(classifier) if layer is None else str(layer)
    modules = dict(classifier.named_modules())
    for candidate in (name, f"network.{name}"):
        if candidate and candidate in modules:
            return candidate, modules[candidate]
    spatial = [n for n, m in modules.items() if n and isinstance(m, (nn.Conv2d, nn.Sequential))]
    examples = ", ".join(spatial[-8:]) or "(none)"
    raise InputError(
        f"{type(classifier).__name__} has no layer named {name!r} for Grad-CAM; "
        f"name a module path such as one of: {examples} (see `dict(classifier.named_modules())`)."
    )


class GradCamMasker(ClassifierMasker):
    """Grad-CAM masks from one layer of the classifier.

    Args:
        classifier: the (white-box) classifier.
        layer: module path of the target layer; ``None`` picks the default (see module docs).
    """

    method = "gradcam"

    def __init__(self, classifier: nn.Module, layer: str | None = None) -> None:
        super().__init__(classifier)
        require_extra("pytorch_grad_cam", "the 'gradcam' baseline")
        self.layer_name, self.layer = resolve_layer(self.classifier, layer)

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Return (B, 1, H, W) Grad-CAM masks in [0, 1] for the given classes."""
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        params = list(self.classifier.parameters())
        needed = [p.requires_grad for p in params]
        cam = None
        with evaluating(self.classifier):  # GradCAM puts the model in eval mode; the caller's mode comes back
            try:
                for p in params:  # gradients flow to the activations through the input only
                    p.requires_grad_(False)
                cam = GradCAM(model=self.classifier, target_layers=[self.layer])
                inputs = images.detach().clone().requires_grad_(True)
                targets = [ClassifierOutputTarget(int(c)) for c in classes.tolist()]
                with torch.enable_grad():
                    maps = cam(input_tensor=inputs, targets=targets)
            except (ValueError, IndexError, AttributeError, TypeError) as error:
                raise InputError(
                    f"Grad-CAM failed on layer {self.layer_name!r} of {type(self.classifier).__name__}: {error}. "
                    "The layer must run during the forward pass and output a (B, C, h, w) feature map."
                ) from error
            finally:
                if cam is not None:
                    cam.activations_and_grads.release()
                for p, flag in zip(params, needed):
                    p.requires_grad_(flag)
        masks = torch.from_numpy(maps).to(device=images.device, dtype=images.dtype).unsqueeze(1)
        return normalise_per_image(masks)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layer={self.layer_name!r}"
