"""Maskers that ignore the classifier: the central box, the full image and the ground-truth boxes.

* ``center``: a centred rectangle with the image's aspect ratio covering
  ``area_fraction`` (0.5, as in the paper) of the image.
* ``full``: all ones (keep everything).
* ``gt``: ones inside the union of the ground-truth boxes of each image
  (boxes ``(x0, y0, x1, y1)`` in image pixels, exclusive ``x1, y1``, the
  convention of :mod:`blackbox_saliency.metrics.boxes`). Pass them as
  ``masker(images, classes, boxes=...)`` or once with :meth:`GroundTruthMasker.set_boxes`.

Each factory accepts ``classifier=`` (ignored except for ``num_classes``) so that
every baseline is built the same way.

Example:
    >>> import torch
    >>> from blackbox_saliency.baselines.boxes import CenterBoxMasker, GroundTruthMasker
    >>> round(float(CenterBoxMasker()(torch.rand(1, 3, 100, 100), torch.tensor([0])).mean()), 4)
    0.5041
    >>> gt = GroundTruthMasker()
    >>> gt(torch.rand(1, 3, 4, 4), torch.tensor([0]), boxes=[torch.tensor([[1.0, 0.0, 3.0, 2.0]])])[0, 0]
    tensor([[0., 1., 1., 0.],
            [0., 1., 1., 0.],
            [0., 0., 0., 0.],
            [0., 0., 0., 0.]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InputError
from ..interfaces import BoxAwareMasker, Masker, require_black_box

__all__ = ["CenterBoxMasker", "FullMasker", "GroundTruthMasker", "boxes_to_masks"]


class _StaticMasker(Masker):
    """Template base: a masker that needs no classifier (``classifier`` only gives ``num_classes``)."""

    method = "static"

    def __init__(self, classifier: nn.Module | None = None) -> None:
        super().__init__()
        self.num_classes = None if classifier is None else require_black_box(classifier).num_classes


class CenterBoxMasker(_StaticMasker):
    """A centred box covering ``area_fraction`` of the image (sides scaled by ``sqrt(area_fraction)``, rounded to
    pixels)."""

    method = "center"

    def __init__(self, classifier: nn.Module | None = None, area_fraction: float = 0.5) -> None:
        super().__init__(classifier)
        if not 0.0 < float(area_fraction) <= 1.0:
            raise InputError(f"`area_fraction` must lie in (0, 1], got {area_fraction}.")
        self.area_fraction = float(area_fraction)

    def box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """The box ``(x0, y0, x1, y1)`` used for an image of ``height`` x ``width`` pixels."""
        scale = math.sqrt(self.area_fraction)
        bh, bw = max(1, round(height * scale)), max(1, round(width * scale))
        y0, x0 = (height - bh) // 2, (width - bw) // 2
        return x0, y0, x0 + bw, y0 + bh

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        b, _, h, w = images.shape
        x0, y0, x1, y1 = self.box(h, w)
        masks = images.new_zeros(b, 1, h, w)
        masks[:, :, y0:y1, x0:x1] = 1
        return masks

    def extra_repr(self) -> str:
        return f"area_fraction={self.area_fraction}"


class FullMasker(_StaticMasker):
    """The whole image is evidence: masks of ones."""

    method = "full"

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        b, _, h, w = images.shape
        return images.new_ones(b, 1, h, w)


def boxes_to_masks(boxes: Sequence[torch.Tensor], height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Paint the union of each image's boxes into (B, 1, height, width) masks (edges rounded to whole pixels)."""
    masks = like.new_zeros(len(boxes), 1, height, width)
    for i, image_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in image_boxes.reshape(-1, 4).tolist():
            c0, c1 = max(0, round(x0)), min(width, round(x1))
            r0, r1 = max(0, round(y0)), min(height, round(y1))
            if c1 > c0 and r1 > r0:
                masks[i, 0, r0:r1, c0:c1] = 1
    return masks


class GroundTruthMasker(_StaticMasker, BoxAwareMasker):
    """Masks painted from ground-truth boxes (the "oracle" row of a localisation table)."""

    method = "gt"

    def __init__(self, classifier: nn.Module | None = None) -> None:
        super().__init__(classifier)
        self._boxes: list[torch.Tensor] | None = None

    @staticmethod
    def _check(boxes: object, batch: int | None) -> list[torch.Tensor]:
        from ..metrics.boxes import check_boxes

        if isinstance(boxes, torch.Tensor):
            boxes = list(boxes.unsqueeze(1) if boxes.dim() == 2 else boxes)
        if not isinstance(boxes, (list, tuple)):
            raise InputError(f"`boxes` must be a list with one (K_i, 4) tensor per image, got {type(boxes).__name__}.")
        if batch is not None and len(boxes) != batch:
            raise InputError(
                f"`boxes` has {len(boxes)} entries but the batch has {batch} images; pass one box list per image."
            )
        return [check_boxes(b, f"boxes[{i}]", rank=None).reshape(-1, 4) for i, b in enumerate(boxes)]

    def set_boxes(self, boxes: Sequence[torch.Tensor] | None) -> GroundTruthMasker:
        """Remember the boxes of the next batch (one (K_i, 4) tensor per image); ``None`` forgets them."""
        self._boxes = None if boxes is None else self._check(boxes, None)
        return self

    def forward(
        self, images: torch.Tensor, classes: torch.Tensor, boxes: Sequence[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Return masks of ones inside each image's boxes (``boxes`` or those given to :meth:`set_boxes`)."""
        if boxes is None:
            boxes = self._boxes
        if boxes is None:
            raise InputError(
                "the 'gt' masker needs ground-truth boxes: call masker(images, classes, boxes=[...]) or "
                "masker.set_boxes([...]) first (one (K_i, 4) tensor of (x0, y0, x1, y1) pixels per image)."
            )
        checked = self._check(boxes, images.shape[0])
        return boxes_to_masks(checked, images.shape[-2], images.shape[-1], images)
