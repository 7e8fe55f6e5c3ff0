"""Any image classifier (a plain ``nn.Module``) as a black box, in one call.

With torchvision weights, the input size, normalisation, evaluation resize and class names come
from the weights' metadata; without, they are given (or default to ImageNet's normalisation at
224x224 and ``class_<i>`` names).

Example:
    >>> import torchvision
    >>> import blackbox_saliency as bs
    >>> weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    >>> box = bs.wrap(torchvision.models.resnet18(), weights)   # weights only describe the model here
    >>> box.input_size, box.class_names[0], box.num_classes
    ((224, 224), 'tench', 1000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from torch import nn

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..devices import evaluating
from ..errors import InputError
from .frozen import FrozenBlackBox
from .transforms import center_crop_transform

__all__ = ["EvalPreset", "WrappedClassifier", "weights_preset", "wrap"]



class EvalPreset(NamedTuple):
    """How a network's input is prepared: its size, the evaluation resize (None: shorter side to 256/224 of the
    input) and interpolation (None: bilinear), and the normalisation."""

    input_size: tuple[int, int] = (224, 224)
    resize_size: int | None = None
    interpolation: Any = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


class WrappedClassifier(FrozenBlackBox):
    """A network as a frozen black box ((B, 3, H, W) in [0, 1] -> logits) evaluated with a resize and centre crop:
    a user's module (:func:`wrap`) or a torchvision model (:class:`~.torchvision_models.TorchvisionClassifier`)."""

    def __init__(self, network: nn.Module, class_names: Sequence[str], preset: EvalPreset | None = None) -> None:
        preset = EvalPreset() if preset is None else preset
        super().__init__(network, preset.input_size, class_names, mean=preset.mean, std=preset.std)
        self._resize_size = preset.resize_size
        self._interpolation = preset.interpolation

    def eval_transform(self):
        """PIL photo -> (3, H, W) in [0, 1]: the weights' resize and centre crop (default: shorter side to 256/224
        of the input)."""
        kwargs = {} if self._interpolation is None else {"interpolation": self._interpolation}
        return center_crop_transform(self.input_size, resize_size=self._resize_size, **kwargs)


def weights_preset(weights: Any) -> EvalPreset:
    """What torchvision ``weights`` say about their model's input (crop size, resize, interpolation, mean, std)."""
    preset = weights.transforms()
    return EvalPreset(
        (int(preset.crop_size[0]),) * 2,
        int(preset.resize_size[0]),
        preset.interpolation,
        tuple(preset.mean),
        tuple(preset.std),
    )


def _size(value: int | Sequence[int]) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 8 for v in pair):
        raise InputError(f"`input_size` must be an int or (height, width), both ints >= 8, got {value!r}.")
    return int(pair[0]), int(pair[1])


def wrap(
    model: nn.Module,
    weights: Any = None,
    *,
    input_size: int | Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> WrappedClassifier:
    """Wrap ``model`` (images normalised as it expects -> logits) as a black box taking images in [0, 1].

    Args:
        model: the classifier; it is frozen (eval mode, no parameter gradients) but keeps its weights.
        weights: a torchvision ``WeightsEnum`` member describing ``model`` (its ``meta["categories"]`` and
            ``transforms()`` give class names, input size, resize and normalisation); ``None``: give them below.
        input_size: overrides the weights' input size (default without weights: 224).
        class_names: override the weights' categories (default without weights: ``class_<i>`` per output).
        mean: overrides the weights' normalisation mean (default without weights: ImageNet's).
        std: overrides the weights' normalisation std (default without weights: ImageNet's).

    Raises:
        InputError: ``model`` is not an ``nn.Module``, ``weights`` is not a torchvision weights member, or the
            class names do not match the model's number of outputs.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"`model` must be a torch.nn.Module, got {type(model).__name__}.")
    preset, names = EvalPreset(), None
    if weights is not None:
        from torchvision.models import WeightsEnum

        if not isinstance(weights, WeightsEnum):
            raise InputError(
                "`weights` must be a torchvision weights member (e.g. ResNet50_Weights.DEFAULT) or None, "
                f"got {weights!r}."
            )
        preset = weights_preset(weights)
        names = list(weights.meta.get("categories") or []) or None
    if input_size is not None:
        preset = preset._replace(input_size=_size(input_size), resize_size=None)
    if mean is not None:
        preset = preset._replace(mean=tuple(mean))
    if std is not None:
        preset = preset._replace(std=tuple(std))
    names = list(class_names) if class_names is not None else names
    if names is None:
        names = [f"class_{i}" for i in range(_outputs_of(model, preset.input_size))]
    return WrappedClassifier(model, names, preset)


def _outputs_of(model: nn.Module, size: tuple[int, int]) -> int:
    """How many logits ``model`` gives (its last Linear layer's outputs, else one forward pass of a blank
    image)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears:
        return int(linears[-1].out_features)
    import torch

    with evaluating(model), torch.no_grad():
        return int(model(torch.zeros(1, 3, *size)).shape[-1])
