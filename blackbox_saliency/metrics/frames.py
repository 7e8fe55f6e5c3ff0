"""Pixel frames: map boxes between the *view* a method sees and the *source* photo it was made from.

An evaluation view is made from an original photo by scaling (and, for a center crop, shifting):
a point ``(x, y)`` of the view lies at ``(x * sx + ox, y * sy + oy)`` in the source photo. One
image's mapping is the four numbers ``(sx, sy, ox, oy)``; a batch's is a (B, 4) tensor. Boxes
follow the library's convention (``(x0, y0, x1, y1)``, exclusive ``x1, y1``, see
:mod:`blackbox_saliency.metrics.boxes`), so the whole view maps to exactly the region it shows.

Example:
    >>> import torch
    >>> mapping = resize_mapping((224, 224), [(375, 500)])  # a 500 x 375 photo squashed to 224 x 224
    >>> view_to_source(torch.tensor([[0.0, 0.0, 224.0, 224.0]]), mapping).tolist()
    [[0.0, 0.0, 500.0, 375.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import InputError
from .boxes import check_boxes

__all__ = ["SourcePhotos", "center_crop_mapping", "check_mapping", "resize_mapping", "source_to_view", "view_to_source"]


@dataclass(frozen=True)
class SourcePhotos:
    """The original photos a batch of views was made from: ``photos``, one (3, H_i, W_i) float tensor in [0, 1] per
    view, and ``view_to_source``, the (B, 4) mapping of each view into its photo (``None``: each whole photo
    resized to the view, see :func:`resize_mapping`).

    Example:
        >>> import torch
        >>> SourcePhotos([torch.rand(3, 10, 20)]).view_to_source is None
        True
    """

    photos: Sequence[torch.Tensor]
    view_to_source: torch.Tensor | None = None


def check_mapping(mapping: object, batch: int | None = None, name: str = "view_to_source") -> torch.Tensor:
    """Check a (B, 4) float tensor of ``(sx, sy, ox, oy)`` with positive, finite scales."""
    if (
        not isinstance(mapping, torch.Tensor)
        or not torch.is_floating_point(mapping)
        or mapping.dim() != 2
        or mapping.shape[1] != 4
    ):
        shape = tuple(mapping.shape) if isinstance(mapping, torch.Tensor) else type(mapping).__name__
        raise InputError(f"`{name}` must be a float tensor (B, 4) of (sx, sy, ox, oy) per image, got {shape}.")
    if batch is not None and mapping.shape[0] != batch:
        raise InputError(
            f"`{name}` has {mapping.shape[0]} rows but the batch has {batch} images; pass one mapping per image."
        )
    if not bool(torch.isfinite(mapping).all()) or bool((mapping[:, :2] <= 0).any()):
        raise InputError(f"`{name}` needs finite values and positive scales sx, sy.")
    return mapping


def resize_mapping(view_size: Sequence[int], source_sizes: Sequence[Sequence[int]]) -> torch.Tensor:
    """Mapping of photos of ``source_sizes`` [(height, width), ...] resized to ``view_size`` (height, width), aspect
    ratio ignored.

    Example:
        >>> resize_mapping((2, 4), [(20, 8)]).tolist()
        [[2.0, 10.0, 0.0, 0.0]]
    """
    vh, vw = (float(s) for s in view_size)
    rows = [[float(w) / vw, float(h) / vh, 0.0, 0.0] for h, w in source_sizes]
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


def center_crop_mapping(
    source_size: Sequence[int], resized_size: Sequence[int], crop_size: Sequence[int]
) -> torch.Tensor:
    """Mapping (1, 4) of a photo of ``source_size`` resized to ``resized_size`` then center-cropped to ``crop_size``
    (all (height, width)).

    The crop offset is torchvision's: ``int(round((resized - crop) / 2))`` per axis.

    Example:
        >>> center_crop_mapping((375, 500), (256, 341), (224, 224)).tolist()  # offsets 58 and 16 resized pixels
        [[1.466275691986084, 1.46484375, 85.04399108886719, 23.4375]]
    """
    (h, w), (rh, rw), (ch, cw) = ((float(a), float(b)) for a, b in (source_size, resized_size, crop_size))
    sx, sy = w / rw, h / rh
    left, top = int(round((rw - cw) / 2.0)), int(round((rh - ch) / 2.0))
    return torch.tensor([[sx, sy, left * sx, top * sy]], dtype=torch.float32)


def _scale_and_offset(boxes: torch.Tensor, mapping: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check both, then the per-box (B, 4) factors ``(sx, sy, sx, sy)`` and offsets ``(ox, oy, ox, oy)``."""
    check_boxes(boxes)
    mapping = check_mapping(mapping, boxes.shape[0]).to(device=boxes.device, dtype=boxes.dtype)
    return mapping[:, :2].repeat(1, 2), mapping[:, 2:].repeat(1, 2)


def view_to_source(boxes: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
    """Boxes (B, 4) in view pixels -> the same regions in source pixels, with the (B, 4) ``mapping``."""
    scale, offset = _scale_and_offset(boxes, mapping)
    return boxes * scale + offset


def source_to_view(boxes: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`view_to_source`: boxes (B, 4) in source pixels -> view pixels."""
    scale, offset = _scale_and_offset(boxes, mapping)
    return (boxes - offset) / scale
