"""Any torchvision classification model as a black box.

``TorchvisionClassifier("resnet50", weights="DEFAULT")`` downloads the weights
through torchvision (internet needed once, cached by torch.hub) and takes the
input size, normalisation and class names from the weights' metadata. Without
weights the network is randomly initialised (useful for tests and custom
training), normalised with the ImageNet mean/std at 224x224.

Example:
    >>> import torch
    >>> from blackbox_saliency.classifiers.torchvision_models import TorchvisionClassifier
    >>> model = TorchvisionClassifier("resnet18")            # weights=None: random init
    >>> model(torch.rand(1, 3, 224, 224)).shape, model.class_names[0]
    (torch.Size([1, 1000]), 'tench')
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from torch import nn

from ..errors import InputError, PluginError
from .names import imagenet_class_names
from .wrap import EvalPreset, WrappedClassifier, weights_preset

__all__ = ["TorchvisionClassifier", "classification_model_names"]



def classification_model_names() -> list[str]:
    """Names of torchvision's ImageNet classification models (``torchvision.models.list_models``)."""
    import torchvision.models

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _resolve_weights(model_name: str, weights):
    """Turn None / "DEFAULT" / "IMAGENET1K_V1" / "ResNet50_Weights.IMAGENET1K_V1" / a WeightsEnum into a WeightsEnum."""
    import torchvision.models
    from torchvision.models import WeightsEnum

    if weights is None:
        return None
    enum = torchvision.models.get_model_weights(model_name)
    if isinstance(weights, WeightsEnum):
        if type(weights) is not enum:
            raise InputError(
                f"weights {weights} belong to another model; {model_name!r} takes {enum.__name__}: "
                f"{[w.name for w in enum]}"
            )
        return weights
    if isinstance(weights, str):
        name = weights.split(".", 1)[1] if weights.startswith(enum.__name__ + ".") else weights
        if name == "DEFAULT":
            return enum.DEFAULT
        try:
            return enum[name]
        except KeyError:
            raise InputError(
                f"unknown weights {weights!r} for {model_name!r}; choose one of "
                f"{['DEFAULT'] + [w.name for w in enum]} or None (random init)"
            ) from None
    raise InputError(f"`weights` must be None, a string or a torchvision WeightsEnum, got {type(weights).__name__}")


def _names_of_weights(weights, num_classes: int | None, class_names: Sequence[str] | None) -> list[str]:
    """The class names of a model with ``weights``: ``class_names`` (checked against them) or their categories."""
    categories = list(weights.meta.get("categories") or [])
    if num_classes is not None and num_classes != len(categories):
        raise InputError(
            f"weights {weights} predict {len(categories)} classes but num_classes={num_classes}; "
            "drop num_classes or use weights=None"
        )
    if class_names is not None and len(class_names) != len(categories):
        raise InputError(f"{len(class_names)} class_names given but the weights predict {len(categories)} classes")
    return list(class_names) if class_names is not None else categories


def _names_without_weights(num_classes: int | None, class_names: Sequence[str] | None) -> list[str]:
    """The class names of a randomly initialised model: ``class_names``, ImageNet's for 1000, else class_<i>."""
    if num_classes is None:
        num_classes = len(class_names) if class_names is not None else 1000
    if num_classes < 1:
        raise InputError(f"num_classes must be >= 1, got {num_classes}")
    if class_names is not None and len(class_names) != num_classes:
        raise InputError(f"{len(class_names)} class_names given but num_classes={num_classes}")
    if class_names is not None:
        return list(class_names)
    if num_classes == 1000:
        return imagenet_class_names()
    return [f"class_{i}" for i in range(num_classes)]


#: torchvision families whose logits are ``fc(avg_pool(stage))``: name prefix -> (pooled stage, linear head).
_CAM_FAMILIES: dict[str, tuple[str, str]] = {
    "resnet": ("network.layer4", "network.fc"),
    "resnext": ("network.layer4", "network.fc"),
    "wide_resnet": ("network.layer4", "network.fc"),
    "regnet": ("network.trunk_output", "network.fc"),
}


def _cam_layers_of(model_name: str) -> tuple[str, str] | None:
    """The declared CAM layers of a torchvision family (see :attr:`BlackBoxClassifier.cam_layers`), or None."""
    for prefix, layers in _CAM_FAMILIES.items():
        if model_name.startswith(prefix):
            return layers
    return None


class TorchvisionClassifier(WrappedClassifier):
    """A torchvision classification model wrapped as a black box ((B,3,H,W) in [0,1] -> logits).

    Args:
        model_name: a name from :func:`classification_model_names` (e.g. "resnet50").
        weights: None (random init), "DEFAULT", a weights name ("IMAGENET1K_V2",
            "ResNet50_Weights.IMAGENET1K_V2") or a ``WeightsEnum`` member.
        num_classes: output classes for a randomly initialised model (default: len(class_names) or 1000).
        class_names: names of the classes (default: the weights' categories, else the
            ImageNet names for 1000 classes, else "class_<i>").
        input_size: override the network input size (default: the weights' crop size, else 224).

    Raises:
        PluginError: unknown model name (the message lists close matches).
        InputError: inconsistent weights / num_classes / class_names.
    """

    def __init__(
        self,
        model_name: str,
        weights=None,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        input_size: int | Sequence[int] | None = None,
    ) -> None:
        import torchvision.models

        known = classification_model_names()
        if model_name not in known:
            close = difflib.get_close_matches(model_name, known, n=5, cutoff=0.5)
            hint = f"did you mean {close}?" if close else f"available: {known}"
            raise PluginError(f"unknown torchvision classification model {model_name!r}; {hint}")
        resolved = _resolve_weights(model_name, weights)
        if resolved is not None:
            names = _names_of_weights(resolved, num_classes, class_names)
            preset = weights_preset(resolved)
            network = torchvision.models.get_model(model_name, weights=resolved)
        else:
            names = _names_without_weights(num_classes, class_names)
            preset = EvalPreset()
            network = torchvision.models.get_model(model_name, weights=None, num_classes=len(names))
        if input_size is not None:
            size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
            preset = preset._replace(input_size=(int(size[0]), int(size[1])), resize_size=None)
        super().__init__(network, names, preset)
        self.model_name = model_name
        self.cam_layers = _cam_layers_of(model_name)
        self.weights = resolved

    @property
    def head(self) -> nn.Module | None:
        """The last ``nn.Linear`` of the network (the classification layer), or None when there is none."""
        linears = [m for m in self.network.modules() if isinstance(m, nn.Linear) and m.out_features == self.num_classes]
        return linears[-1] if linears else None

    def extra_repr(self) -> str:
        return f"model_name={self.model_name!r}, weights={self.weights}"
