"""The paper's saliency objective, every term returned separately.

``L(M) = tv_coef*TV(M) + area_coef*AV(M)**area_power - log f_c(phi(X, M)) + destroy_coef * f_c(phi(X, 1-M))**destroy_power``
``+ crop_coef * (-log f_c(crop(X, box(M))) + log max(area(box(M)), 0.05))`` (our extension, off by default: the
saliency metric made differentiable, see :mod:`~blackbox_saliency.objective.crop_preserve`).

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

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from ..input_checks import check_classes, check_generator, check_images, check_masks, check_same_batch, check_same_spatial, input_checks_enabled
from ..errors import InputError
from ..fast import mask_blend_tv
from ..interfaces import EvidenceRemover, require_black_box
from .crop_preserve import AREA_FLOOR, crop_soft_boxes, soft_boxes

__all__ = ["ObjectiveTerms", "SaliencyObjective", "VARIANTS"]

VARIANTS = ("paper", "reference")


@dataclass
class ObjectiveTerms:
    """Per-sample (B,) tensors of each weighted term and their sum ``total``."""

    tv: torch.Tensor
    area: torch.Tensor
    preserve: torch.Tensor
    destroy: torch.Tensor
    crop: torch.Tensor
    total: torch.Tensor

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The terms' names in order (every field but ``total``): what a trainer logs."""
        return tuple(f.name for f in fields(cls) if f.name != "total")

    def mean(self) -> dict[str, float]:
        """Batch means of every term as plain floats (for logging)."""
        return {f.name: float(getattr(self, f.name).detach().mean()) for f in fields(self)}


class SaliencyObjective(nn.Module):
    """Objective of Dabkowski & Gal (2017) for masks of a black-box classifier.

    Args:
        classifier: the black box (used only through its outputs).
        remover: evidence remover drawing the alternative image; default ``paper``.
        tv_coef: weight of the total variation (see module docs).
        area_coef: weight of the area term.
        destroy_coef: weight of the destroyed-image term.
        destroy_power: power of the destroyed image's probability.
        area_power: power of the area (None: the variant's default).
        variant: ``"paper"`` (log-probabilities) or ``"reference"`` (our reading of the reference
            code: area raised to ``area_power`` 0.3 by default, and a hinge on logits
            ``relu(z_c - max_{k != c} z_k + margin)`` for the destroyed image).
        hinge_margin: margin of the reference variant's hinge.
        crop_coef: weight of the crop-preserve term (0 = off; one more black-box pass per real selector).
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
        crop_coef: float = 0.0,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise InputError(f"`variant` must be one of {VARIANTS}, got {variant!r}.")
        for name, value in (("tv_coef", tv_coef), ("area_coef", area_coef), ("destroy_coef", destroy_coef), ("destroy_power", destroy_power),
                            ("crop_coef", crop_coef)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InputError(f"`{name}` must be a finite number >= 0, got {value!r}.")
        if remover is None:
            from ..evidence.removers import PaperRemover

            remover = PaperRemover()
        self.classifier = require_black_box(classifier, "objective's classifier")
        self.remover = remover
        self.tv_coef = float(tv_coef)
        self.area_coef = float(area_coef)
        self.destroy_coef = float(destroy_coef)
        self.destroy_power = float(destroy_power)
        self.variant = variant
        self.area_power = float(area_power if area_power is not None else (0.3 if variant == "reference" else 1.0))
        self.hinge_margin = float(hinge_margin)
        self.crop_coef = float(crop_coef)

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

        ``alternative`` may be given to fix ``A``; otherwise the remover draws it anew, for the real
        selectors' images only. Fake selectors (``fake[i]`` True) get the area term alone, and their
        images never reach the black box. ``fake`` may live on the CPU for images on another device
        (the trainer draws it there, so picking the real images needs no device-to-host copy).
        The inputs are checked unless inside :func:`~blackbox_saliency.input_checks.skip_input_checks`
        (the training step validates its data where it enters).
        """
        check = input_checks_enabled()
        if check:
            check_images(images)
            check_masks(masks)
            check_classes(classes, self.classifier.num_classes)
            check_same_batch(images=images, masks=masks, classes=classes)
            check_generator(generator, images.device)
            if masks.dtype != images.dtype:
                raise InputError(f"`masks` has dtype {masks.dtype} but `images` has {images.dtype}; use `masks.to(images.dtype)`.")
        batch = images.shape[0]
        if fake is not None and check and (not isinstance(fake, torch.Tensor) or fake.dtype != torch.bool or tuple(fake.shape) != (batch,)):
            shown = f"{fake.dtype} {tuple(fake.shape)}" if isinstance(fake, torch.Tensor) else type(fake).__name__
            raise InputError(f"`fake` must be a bool tensor of shape ({batch},), got {shown}.")
        if alternative is not None and check:
            check_images(alternative, name="alternative")
            check_same_batch(images=images, alternative=alternative)
            check_same_spatial(images, alternative, "images", "alternative")
            if alternative.dtype != images.dtype:
                raise InputError(f"`alternative` has dtype {alternative.dtype} but `images` has {images.dtype}; cast one of them.")
        area = masks.reshape(batch, -1).mean(dim=1)
        area_term = self.area_coef * (area + 1e-6).pow(self.area_power) if self.area_power != 1.0 else self.area_coef * area
        real_index = None
        if fake is not None:
            real_index = torch.nonzero(~fake.detach()).squeeze(1).to(images.device, non_blocking=True)
            if real_index.numel() == batch:
                real_index = None
        zeros = torch.zeros_like(area)
        if real_index is not None and real_index.numel() == 0:  # only fake selectors: nothing for the black box to see
            return ObjectiveTerms(tv=zeros, area=area_term, preserve=zeros.clone(), destroy=zeros.clone(), crop=zeros.clone(), total=area_term.clone())
        if real_index is not None:
            images, masks, classes = images[real_index], masks[real_index], classes[real_index]
            if alternative is not None:
                alternative = alternative[real_index]
        if alternative is None:
            alternative = self.remover(images, generator)
        tv, preserve, destroy, crop = self._real_terms(images, masks, classes, alternative)
        if real_index is not None:
            tv, preserve, destroy, crop = (zeros.index_put((real_index,), t.to(zeros.dtype)) for t in (tv, preserve, destroy, crop))
        terms = ObjectiveTerms(tv=tv, area=area_term, preserve=preserve, destroy=destroy, crop=crop, total=zeros)
        terms.total = sum((getattr(terms, name) for name in ObjectiveTerms.names()), zeros)
        return terms

    def _real_terms(
        self, images: torch.Tensor, masks: torch.Tensor, classes: torch.Tensor, alternative: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Weighted TV, preserve, destroy and crop terms (each (B,)) for real selectors: one black-box call on the blends (and crops)."""
        batch = images.shape[0]
        _, preserved, destroyed, tv = mask_blend_tv(masks, images, alternative, True)
        seen = [preserved, destroyed]
        if self.crop_coef > 0:
            boxes = soft_boxes(masks)
            seen.append(crop_soft_boxes(images, boxes, tuple(images.shape[-2:])))
        logits = self.classifier(torch.cat(seen, dim=0))
        if logits.dtype in (torch.float16, torch.bfloat16):  # autocast: losses are computed in float32
            logits = logits.float()
        kept_logits, gone_logits = logits[:batch], logits[batch:2 * batch]
        index = classes.view(-1, 1)
        preserve = -F.log_softmax(kept_logits, dim=1).gather(1, index).squeeze(1)
        if self.variant == "paper":
            destroyed_score = F.softmax(gone_logits, dim=1).gather(1, index).squeeze(1).clamp_min(1e-12).pow(self.destroy_power)
        else:
            target = gone_logits.gather(1, index).squeeze(1)
            others = gone_logits.scatter(1, index, float("-inf")).amax(dim=1)
            destroyed_score = F.relu(target - others + self.hinge_margin)
        dtype = masks.dtype
        crop = torch.zeros_like(preserve)
        if self.crop_coef > 0:
            crop_log_p = F.log_softmax(logits[2 * batch:], dim=1).gather(1, index).squeeze(1)
            area = (boxes[:, 2] * boxes[:, 3]).clamp_min(AREA_FLOOR)
            crop = self.crop_coef * (area.log() - crop_log_p)
        return (self.tv_coef * tv).to(dtype), preserve.to(dtype), (self.destroy_coef * destroyed_score).to(dtype), crop.to(dtype)
