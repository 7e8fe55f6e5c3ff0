"""The crop-preserve term: the saliency metric itself, made differentiable, as a loss term (our extension).

The metric draws the tightest box around the mask, crops it out of the image, resizes the crop to the
black box's input and scores ``log(max(area, 0.05)) - log p(class | crop)``. Its box is not
differentiable, so this term uses a *soft box* from the mask's moments: per axis, the centre is the mean
of the mask's marginal mass and the side ``sqrt(12)`` standard deviations (the side of a uniform
distribution with that spread; with the pixel grid's own ``1 / n^2`` added under the root, exact for a
filled rectangle of pixels). The crop is cut with an affine
``grid_sample`` and resized to the black box's input in the same call, so gradients reach the box, and
through it the mask::

    crop_term = -log p(class | crop(X, soft_box(M))) + log(max(area(soft_box(M)), 0.05))

Example:
    >>> import torch
    >>> mask = torch.zeros(1, 1, 8, 8)
    >>> mask[..., 2:6, 0:4] = 1
    >>> [round(v, 3) for v in soft_boxes(mask)[0].tolist()]  # centre x, centre y, width, height as image fractions
    [0.25, 0.5, 0.5, 0.5]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["AREA_FLOOR", "crop_soft_boxes", "soft_boxes"]

AREA_FLOOR = 0.05  # the saliency metric's floor on the box area


def soft_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(B, 4) soft boxes ``(centre x, centre y, width, height)`` as fractions of the image, from (B, 1, h, w) masks.

    Each side is at least one mask pixel and at most the whole image.
    """
    masks = masks.float()
    batch, _, height, width = masks.shape
    mass = masks.flatten(1).sum(dim=1).clamp_min(1e-6)
    out = []
    for marginal, size in ((masks.sum(dim=(1, 2)), width), (masks.sum(dim=(1, 3)), height)):
        coords = (torch.arange(size, device=masks.device, dtype=masks.dtype) + 0.5) / size
        weights = marginal / mass.view(-1, 1)
        centre = (weights * coords).sum(dim=1)
        variance = (weights * (coords - centre.view(-1, 1)) ** 2).sum(dim=1)
        side = (12.0 * variance + 1.0 / size**2).sqrt().clamp(max=1.0)  # exact for a filled rectangle of whole pixels
        centre = torch.maximum(torch.minimum(centre, 1 - side / 2), side / 2)  # keep the box inside the image
        out.append((centre, side))
    (cx, w), (cy, h) = out
    return torch.stack([cx, cy, w, h], dim=1)


def crop_soft_boxes(images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Cut each (centre x, centre y, width, height) box out of its image and resize it to ``size``,
    differentiably in the box."""
    cx, cy, w, h = boxes.to(images.dtype).unbind(dim=1)
    zeros = torch.zeros_like(cx)
    theta = torch.stack([torch.stack([w, zeros, 2 * cx - 1], dim=1), torch.stack([zeros, h, 2 * cy - 1], dim=1)], dim=1)
    grid = F.affine_grid(theta, [images.shape[0], images.shape[1], int(size[0]), int(size[1])], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
