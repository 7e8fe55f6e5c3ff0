"""The paper's saliency objective, every term returned separately.

``L(M) = tv_coef*TV(M) + area_coef*AV(M)**area_power - log f_c(phi(X, M)) + destroy_coef * f_c(phi(X, 1-M))**destroy_power``

Defaults and why:

* ``destroy_coef=5``, ``destroy_power=0.3``: the paper's lambda_3 and lambda_4; a power
  below 1 keeps pushing the destroyed image's probability towards 0.
* ``area_coef=3`` with ``AV`` the *mean* of the mask (so it lies in [0, 1] whatever the
  resolution); the paper's per-pixel coefficient on a 56 x 56 mask is of this order.
* ``tv_coef=1`` with ``TV`` the mean squared neighbour difference, which keeps masks blobby
  without making them blurry.
* ``area_power=1`` (the paper); the reference code's variant raises the area to 0.3.

Fake selectors (``fake[i]`` True) contribute the area term only.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from blackbox_saliency.interfaces import BlackBoxClassifier
    >>> from blackbox_saliency.objective import SaliencyObjective
    >>> net = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), (8, 8), list("abcd"))
    >>> objective = SaliencyObjective(net)
    >>> terms = objective(torch.rand(2, 3, 8, 8), torch.rand(2, 1, 4, 4), torch.tensor([0, 3]))
    >>> terms.total.shape
    torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from ..conventions import check_classes, check_generator, check_images, check_masks, check_same_batch, check_same_spatial
from ..errors import InputError
from ..fast import mask_blend_tv
from ..interfaces import EvidenceRemover

__all__ = ["ObjectiveTerms", "SaliencyObjective", "VARIANTS"]

VARIANTS = ("paper", "reference")


@dataclass
class ObjectiveTerms:
    """Per-sample (B,) tensors of each weighted term and their sum ``total``."""

    tv: torch.Tensor
    area: torch.Tensor
    preserve: torch.Tensor
    destroy: torch.Tensor
    total: torch.Tensor

    def mean(self) -> dict[str, float]:
        """Batch means of every term as plain floats (for logging)."""
        return {f.name: float(getattr(self, f.name).detach().mean()) for f in fields(self)}


class SaliencyObjective(nn.Module):
    """Objective of Dabkowski & Gal (2017) for masks of a black-box classifier.

    Args:
        classifier: the black box (used only through its outputs).
        remover: evidence remover drawing the alternative image; default ``paper``.
        tv_coef, area_coef, destroy_coef, destroy_power, area_power: term weights (see module docs).
        variant: ``"paper"`` (log-probabilities) or ``"reference"`` (our reading of the reference
            code: area raised to ``area_power`` 0.3 by default, and a hinge on logits
            ``relu(z_c - max_{k != c} z_k + margin)`` for the destroyed image).
        hinge_margin: margin of the reference variant's hinge.
    """

    def __init__(
        self,
        classifier: nn.Module,
        remover: EvidenceRemover | None = None,
        tv_coef: float = 1.0,
        area_coef: float = 3.0,
        destroy_coef: float = 5.0,
        destroy_power: float = 0.3,
        area_power: float | None = None,
        variant: str = "paper",
        hinge_margin: float = 1.0,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise InputError(f"`variant` must be one of {VARIANTS}, got {variant!r}.")
        for name, value in (("tv_coef", tv_coef), ("area_coef", area_coef), ("destroy_coef", destroy_coef), ("destroy_power", destroy_power)):
            if value < 0:
                raise InputError(f"`{name}` must be >= 0, got {value}.")
        if remover is None:
            from ..evidence.removers import PaperRemover

            remover = PaperRemover()
        self.classifier = classifier
        self.remover = remover
        self.tv_coef = float(tv_coef)
        self.area_coef = float(area_coef)
        self.destroy_coef = float(destroy_coef)
        self.destroy_power = float(destroy_power)
        self.variant = variant
        self.area_power = float(area_power if area_power is not None else (0.3 if variant == "reference" else 1.0))
        self.hinge_margin = float(hinge_margin)

    def forward(
        self,
        images: torch.Tensor,
        masks: torch.Tensor,
        classes: torch.Tensor,
        fake: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        alternative: torch.Tensor | None = None,
    ) -> ObjectiveTerms:
        """Evaluate every term for masks (B, 1, h, w) (any resolution; upsampled to the images).

        ``alternative`` may be given to fix ``A``; otherwise the remover draws it anew.
        """
        check_images(images)
        check_masks(masks)
        check_classes(classes, getattr(self.classifier, "num_classes", None))
        batch = check_same_batch(images=images, masks=masks, classes=classes)
        check_generator(generator, images.device)
        if masks.dtype != images.dtype:
            raise InputError(f"`masks` has dtype {masks.dtype} but `images` has {images.dtype}; use `masks.to(images.dtype)`.")
        if fake is None:
            fake = torch.zeros(batch, dtype=torch.bool, device=images.device)
        elif not isinstance(fake, torch.Tensor) or fake.dtype != torch.bool or tuple(fake.shape) != (batch,):
            shown = f"{fake.dtype} {tuple(fake.shape)}" if isinstance(fake, torch.Tensor) else type(fake).__name__
            raise InputError(f"`fake` must be a bool tensor of shape ({batch},), got {shown}.")
        if alternative is None:
            alternative = self.remover(images, generator)
        else:
            check_images(alternative, name="alternative")
            check_same_batch(images=images, alternative=alternative)
            check_same_spatial(images, alternative, "images", "alternative")
            if alternative.dtype != images.dtype:
                raise InputError(f"`alternative` has dtype {alternative.dtype} but `images` has {images.dtype}; cast one of them.")
        _, preserved, destroyed, tv = mask_blend_tv(masks, images, alternative, True)
        area = masks.reshape(batch, -1).mean(dim=1)
        real = (~fake).to(images.dtype)
        logits = self.classifier(torch.cat([preserved, destroyed], dim=0))
        kept_logits, gone_logits = logits[:batch], logits[batch:]
        index = classes.view(-1, 1)
        preserve = -F.log_softmax(kept_logits, dim=1).gather(1, index).squeeze(1)
        if self.variant == "paper":
            destroyed_score = F.softmax(gone_logits, dim=1).gather(1, index).squeeze(1).clamp_min(1e-12).pow(self.destroy_power)
        else:
            target = gone_logits.gather(1, index).squeeze(1)
            others = gone_logits.scatter(1, index, float("-inf")).amax(dim=1)
            destroyed_score = F.relu(target - others + self.hinge_margin)
        area_term = self.area_coef * (area + 1e-6).pow(self.area_power) if self.area_power != 1.0 else self.area_coef * area
        terms = ObjectiveTerms(
            tv=self.tv_coef * tv * real,
            area=area_term,
            preserve=preserve * real,
            destroy=self.destroy_coef * destroyed_score * real,
            total=torch.zeros_like(area),
        )
        terms.total = terms.tv + terms.area + terms.preserve + terms.destroy
        return terms
