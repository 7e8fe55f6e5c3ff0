"""The class-activation prior of the masking model: start where the encoder already looks.

The encoder's own classifier head ``W`` (classes x coarsest channels) turns the coarsest feature
map ``X`` into a class activation map ``relu(X_ij . W_c)`` (Zhou et al. 2016): for an encoder that
*is* the black box's network (EfficientNet-Lite0, the CIFAR ResNets), a one-pass localisation as good
as Grad-CAM, before any training. The masker turns it into mask logits::

    prior = relu(X_ij . W_c) / max_k,ij relu(X_ij . W_k)      (in [0, 1])
    M = sigmoid(a * prior + b + residual)

normalised by the strongest class anywhere in the image, so that a class the network does not see
(a fake selector) gets a dim prior, and with the decoder predicting the ``residual`` in logit space
from a zero-initialised layer: an untrained masker gives exactly the prior's mask, and training
refines it. ``a`` and ``b`` are learnt (``a`` kept positive through its logarithm).

Example:
    >>> import torch
    >>> prior = ClassPrior(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    >>> features = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2 channels, 1, 2): class 0 left, class 1 right
    >>> [round(v, 3) for v in torch.sigmoid(prior(features, torch.tensor([0]), (1, 2))).flatten().tolist()]
    [0.993, 0.007]
    >>> [round(v, 3) for v in torch.sigmoid(prior(features, torch.tensor([1]), (1, 2))).flatten().tolist()]
    [0.007, 0.5]
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

__all__ = ["ClassPrior", "class_activation_maps", "normalise_cam"]


def class_activation_maps(
    features: torch.Tensor, weight: torch.Tensor, classes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``relu(X_ij . W_c)`` (B, 1, h, w) of the selected classes and the strongest value over every class and
    location (B,).

    Example:
        >>> import torch
        >>> head = torch.tensor([[1.0, 0.0], [2.0, 2.0]])
        >>> maps, strongest = class_activation_maps(torch.ones(1, 2, 2, 2), head, torch.tensor([0]))
        >>> maps.flatten().tolist(), strongest.tolist()
        ([1.0, 1.0, 1.0, 1.0], [4.0])
    """
    weight = weight.to(features.dtype)
    selected = torch.einsum("bchw,bc->bhw", features, weight[classes]).unsqueeze(1).relu()
    every = torch.einsum("bchw,kc->bkhw", features, weight)
    return selected, every.flatten(1).amax(dim=1).clamp_min(0.0)


def normalise_cam(maps: torch.Tensor, strongest: torch.Tensor | None = None, floor: float = 1.0) -> torch.Tensor:
    """Scale (B, 1, h, w) non-negative maps to [0, 1] by their own maximum, or, with ``strongest`` (B,), by
    ``max(own maximum, floor * strongest)`` (``floor = 1``: by the strongest class's peak)."""
    own = maps.flatten(1).amax(dim=1)
    scale = own if strongest is None else torch.maximum(own, floor * strongest.to(maps.dtype))
    tiny = torch.finfo(maps.dtype).tiny
    return (maps / scale.clamp_min(tiny).view(-1, 1, 1, 1)).clamp_(0.0, 1.0)


class ClassPrior(nn.Module):
    """Mask logits ``a * prior + b`` from the coarsest features and a fixed head weight (classes, channels).

    The weight is a frozen buffer saved with the masker (a copy of the encoder's head, which the encoder's
    own feature extractor does not keep); ``a`` (as ``log_scale``) and ``b`` (``offset``) are trainable parameters.
    """

    def __init__(self, weight: torch.Tensor, scale: float = 10.0, offset: float = -5.0, floor: float = 1.0) -> None:
        super().__init__()
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            raise InputError(
                "the class prior needs a head weight of shape (classes, channels), "
                f"got {getattr(weight, 'shape', type(weight).__name__)}."
            )
        if not scale > 0:
            raise InputError(f"the class prior's scale must be > 0, got {scale}.")
        if not 0.0 <= floor <= 1.0:
            raise InputError(f"the class prior's normalisation floor must lie in [0, 1], got {floor}.")
        self.floor = float(floor)
        self.register_buffer("weight", weight.detach().clone().float())
        self.log_scale = nn.Parameter(torch.tensor(math.log(float(scale))))
        self.offset = nn.Parameter(torch.tensor(float(offset)))

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    def normalised(self, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """``relu(X . W_c) / max(max_ij relu(X_ij . W_c), floor * max_k,ij relu(X_ij . W_k))`` as (B, 1, h, w)
        float32 in [0, 1].

        ``floor = 1`` divides by the strongest class's peak; ``floor = 0`` by the class's own peak (plain CAM); in
        between,
        a class whose peak reaches ``floor`` of the strongest one is scaled to its own peak, and a weaker one stays dim.
        """
        features = features.float()
        maps, strongest = class_activation_maps(features, self.weight.to(features.device), classes)
        return normalise_cam(maps, strongest, self.floor)

    def forward(self, features: torch.Tensor, classes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Mask logits (B, 1, *size) float32: the normalised prior, bilinearly upsampled to ``size``, times ``a``
        plus ``b``."""
        prior = F.interpolate(
            self.normalised(features, classes), size=tuple(size), mode="bilinear", align_corners=False
        )
        return prior * self.log_scale.float().exp() + self.offset.float()

    def extra_repr(self) -> str:
        return f"classes={self.num_classes}, channels={int(self.weight.shape[1])}, floor={self.floor}"
