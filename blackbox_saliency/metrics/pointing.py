"""The pointing game (Zhang et al., 2016): does the saliency maximum fall on the object?

An image is a hit when the centre of its maximal saliency pixel lies within ``tolerance_px``
pixels (Euclidean distance, 0 inside) of any of its ground-truth boxes. Boxes use this
library's convention (see :mod:`blackbox_saliency.metrics.boxes`) in the pixel frame of the
saliency map; pixel ``(i, j)`` has its centre at ``(j + 0.5, i + 0.5)``. Ties between maximal
pixels go to the first in row-major order.

Example:
    >>> import torch
    >>> sal = torch.zeros(1, 1, 64, 64)
    >>> sal[0, 0, 10, 40] = 1.0
    >>> pointing_game(sal, [torch.tensor([[30.0, 0.0, 64.0, 20.0]])]).accuracy
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..errors import InputError
from ..input_checks import check_masks
from .boxes import pad_box_lists

__all__ = ["PointingResult", "max_points", "pointing_game"]


class PointingResult(NamedTuple):
    """Per-image hits (B,) bool, the accuracy (fraction of hits) and the (B, 2) ``(x, y)`` points used."""

    hits: torch.Tensor
    accuracy: float
    points: torch.Tensor


def _check_saliency(saliency: object, name: str = "saliency") -> torch.Tensor:
    """Saliency maps are (B, 1, H, W) floats of any range (gradients, scores...) without NaN."""
    check_masks(saliency, name=name, check_range=False)
    if saliency.numel() == 0:
        raise InputError(f"`{name}` is empty (shape {tuple(saliency.shape)}); pass at least one map.")
    if bool(torch.isnan(saliency).any()):
        raise InputError(f"`{name}` contains NaN values; clean the saliency maps first.")
    return saliency


def max_points(saliency: torch.Tensor) -> torch.Tensor:
    """Centre ``(x, y)`` (B, 2) of the first maximal pixel of each (B, 1, H, W) map, in pixels."""
    b, _, _, w = saliency.shape
    flat = saliency.reshape(b, -1).argmax(dim=1)
    dtype = saliency.dtype if torch.is_floating_point(saliency) else torch.float32
    return torch.stack([flat % w, flat // w], dim=1).to(dtype) + 0.5


def pointing_game(
    saliency: torch.Tensor,
    gt_boxes: Sequence[torch.Tensor] | torch.Tensor,
    tolerance_px: float = 15.0,
) -> PointingResult:
    """Score the pointing game for a batch of saliency maps.

    Args:
        saliency: (B, 1, H, W) saliency maps (any real range; larger = more salient).
        gt_boxes: per image a (K_i, 4) tensor of ground-truth boxes in the map's pixels
            (rescale with :func:`~blackbox_saliency.metrics.boxes.scale_boxes` if needed).
        tolerance_px: distance in pixels within which a point still counts as on the box (15 in the original protocol).

    Returns:
        ``PointingResult(hits, accuracy, points)``.
    """
    _check_saliency(saliency)
    if (
        isinstance(tolerance_px, bool)
        or not isinstance(tolerance_px, (int, float))
        or not (math.isfinite(tolerance_px) and tolerance_px >= 0)
    ):
        raise InputError(f"`tolerance_px` must be a finite number >= 0, got {tolerance_px!r}.")
    points = max_points(saliency)
    boxes, valid = pad_box_lists(gt_boxes, saliency.shape[0], device=saliency.device, dtype=points.dtype)
    x, y = points[:, 0:1], points[:, 1:2]  # (B, 1) against (B, K)
    dx = (boxes[..., 0] - x).clamp_min(0) + (x - boxes[..., 2]).clamp_min(0)
    dy = (boxes[..., 1] - y).clamp_min(0) + (y - boxes[..., 3]).clamp_min(0)
    distance = torch.sqrt(dx * dx + dy * dy)
    hits = ((distance <= float(tolerance_px)) & valid).any(dim=1)
    return PointingResult(hits, float(hits.float().mean()), points)
