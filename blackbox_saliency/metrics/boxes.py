"""Bounding boxes: masks to boxes, areas, IoU, scaling and the localisation error (tensor maths only).

Box convention (used everywhere in this library):

* a box is a float tensor ``(..., 4)`` holding ``(x0, y0, x1, y1)`` in pixel units of the
  image or mask it refers to, ``x`` to the right and ``y`` down, origin at the top-left corner;
* ``x0, y0`` are the *inclusive* left/top edges and ``x1, y1`` the *exclusive* right/bottom
  edges, i.e. continuous coordinates of pixel borders: the single pixel at row ``i``,
  column ``j`` is the box ``(j, i, j + 1, i + 1)`` and the whole ``H x W`` image is
  ``(0, 0, W, H)``. Width is ``x1 - x0`` and area ``(x1 - x0) * (y1 - y0)`` with no ``+ 1``.

This matches ``torchvision.ops.box_iou`` and ``torchvision.ops.roi_align(..., aligned=True)``
(pixel ``j`` has its centre at ``j + 0.5``). The ImageNet ground truth is read from ``boxes.csv`` by
:func:`blackbox_saliency.data.load_val_boxes`.

Example:
    >>> import torch
    >>> from blackbox_saliency.metrics.boxes import mask_to_box
    >>> m = torch.zeros(1, 1, 4, 6)
    >>> m[0, 0, 1:3, 2:5] = 1
    >>> mask_to_box(m).tolist()
    [[2.0, 1.0, 5.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torchvision

from ..errors import InputError
from ..input_checks import check_masks

__all__ = [
    "LocalisationResult",
    "box_area",
    "box_iou",
    "check_boxes",
    "localisation_error",
    "mask_to_box",
    "pad_box_lists",
    "scale_boxes",
]


def check_boxes(boxes: object, name: str = "boxes", rank: int | None = 2) -> torch.Tensor:
    """Check that ``boxes`` is a finite float tensor ``(..., 4)`` (of ``rank`` dimensions when given) with
    x0 <= x1, y0 <= y1."""
    if not isinstance(boxes, torch.Tensor):
        raise InputError(
            f"`{name}` must be a torch.Tensor of shape (N, 4), got {type(boxes).__name__}; use torch.tensor([...])."
        )
    if not torch.is_floating_point(boxes):
        raise InputError(f"`{name}` must be a floating-point tensor, got dtype {boxes.dtype}; use `{name}.float()`.")
    if boxes.dim() == 0 or boxes.shape[-1] != 4 or (rank is not None and boxes.dim() != rank):
        want = "(N, 4)" if rank == 2 else "(..., 4)"
        raise InputError(f"`{name}` must have shape {want} holding (x0, y0, x1, y1), got {tuple(boxes.shape)}.")
    if not bool(torch.isfinite(boxes).all()):
        raise InputError(f"`{name}` contains NaN or infinite coordinates.")
    if bool((boxes[..., 2] < boxes[..., 0]).any() or (boxes[..., 3] < boxes[..., 1]).any()):
        raise InputError(
            f"`{name}` has boxes with x1 < x0 or y1 < y0; boxes are (x0, y0, x1, y1) with exclusive x1, y1."
        )
    return boxes


def mask_to_box(masks: torch.Tensor, threshold: float | torch.Tensor = 0.5) -> torch.Tensor:
    """Tightest box around the pixels of each mask strictly above ``threshold``.

    Args:
        masks: (B, 1, H, W) float masks (values need not lie in [0, 1]; NaN is rejected).
        threshold: a pixel belongs to the salient region when ``mask > threshold`` (strict); a number, or a
            (B,) tensor with one threshold per mask.

    Returns:
        (B, 4) boxes ``(x0, y0, x1, y1)`` in mask pixels, exclusive ``x1, y1``, in the masks' dtype
        and device. A mask with no pixel above the threshold gets the one-pixel box around its
        maximal pixel (the first one in row-major order on ties).

    Example:
        >>> import torch
        >>> mask_to_box(torch.zeros(1, 1, 3, 3)).tolist()  # nothing above 0.5: the first maximal pixel
        [[0.0, 0.0, 1.0, 1.0]]
    """
    check_masks(masks, check_range=False)
    if bool(torch.isnan(masks).any()):
        raise InputError("`masks` contains NaN values; clean the input before computing boxes.")
    b, _, h, w = masks.shape
    dtype = masks.dtype
    if isinstance(threshold, torch.Tensor):
        if threshold.dim() != 1 or threshold.shape[0] != b:
            raise InputError(
                f"a tensor `threshold` must have shape ({b},), one value per mask, got {tuple(threshold.shape)}."
            )
        threshold = threshold.to(device=masks.device, dtype=dtype).view(b, 1, 1)
    above = masks[:, 0] > threshold  # (B, H, W)
    rows = above.any(dim=2).to(torch.uint8)  # (B, H)
    cols = above.any(dim=1).to(torch.uint8)  # (B, W)
    # argmax returns the first maximal index: the first True from either end.
    y0 = rows.argmax(dim=1)
    y1 = h - rows.flip(1).argmax(dim=1)
    x0 = cols.argmax(dim=1)
    x1 = w - cols.flip(1).argmax(dim=1)
    found = torch.stack([x0, y0, x1, y1], dim=1)
    peak = masks.reshape(b, -1).argmax(dim=1)
    pi, pj = peak // w, peak % w
    fallback = torch.stack([pj, pi, pj + 1, pi + 1], dim=1)
    any_above = rows.bool().any(dim=1, keepdim=True)
    return torch.where(any_above, found, fallback).to(dtype)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area ``(x1 - x0) * (y1 - y0)`` of boxes ``(..., 4)`` (degenerate boxes have area 0).

    Example:
        >>> import torch
        >>> box_area(torch.tensor([[0.0, 0.0, 2.0, 3.0]])).tolist()
        [6.0]
    """
    check_boxes(boxes, rank=None)
    return (boxes[..., 2] - boxes[..., 0]).clamp_min(0) * (boxes[..., 3] - boxes[..., 1]).clamp_min(0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union (N, M) of boxes ``a`` (N, 4) and ``b`` (M, 4).

    Example:
        >>> import torch
        >>> box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]])).tolist()
        [[0.3333333432674408]]
    """
    check_boxes(a, "a")
    check_boxes(b, "b")
    return torchvision.ops.box_iou(a, b.to(a.dtype))


def scale_boxes(boxes: torch.Tensor, from_size: Sequence[int], to_size: Sequence[int]) -> torch.Tensor:
    """Rescale boxes from an image of ``from_size`` = (height, width) to one of ``to_size`` = (height, width).

    With exclusive edges the mapping is exact: the full-image box maps to the full-image box.

    Example:
        >>> import torch
        >>> scale_boxes(torch.tensor([[0.0, 0.0, 4.0, 2.0]]), (2, 4), (20, 8)).tolist()
        [[0.0, 0.0, 8.0, 20.0]]
    """
    check_boxes(boxes, rank=None)
    for name, size in (("from_size", from_size), ("to_size", to_size)):
        if len(size) != 2 or min(float(s) for s in size) <= 0:
            raise InputError(f"`{name}` must be (height, width) with positive entries, got {tuple(size)}.")
    (fh, fw), (th, tw) = (float(s) for s in from_size), (float(s) for s in to_size)
    numerator = torch.tensor([tw, th, tw, th], dtype=boxes.dtype, device=boxes.device)
    denominator = torch.tensor([fw, fh, fw, fh], dtype=boxes.dtype, device=boxes.device)
    return boxes * numerator / denominator  # multiply first: integer edges map exactly


def pad_box_lists(
    gt_boxes: Sequence[torch.Tensor] | torch.Tensor,
    batch: int,
    name: str = "gt_boxes",
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack per-image box lists ``[(K_i, 4), ...]`` into padded (B, K, 4) boxes and a (B, K) validity mask.

    ``gt_boxes`` may also be a (B, 4) tensor (one box per image) or a (B, K, 4) tensor.
    Every image needs at least one box.
    """
    if isinstance(gt_boxes, torch.Tensor):
        if gt_boxes.dim() == 2:
            gt_boxes = gt_boxes.unsqueeze(1)
        if gt_boxes.dim() != 3:
            raise InputError(
                f"`{name}` must be a list of (K_i, 4) tensors, or a (B, 4) / (B, K, 4) tensor, "
                f"got shape {tuple(gt_boxes.shape)}."
            )
        gt_boxes = list(gt_boxes)
    if not isinstance(gt_boxes, (list, tuple)):
        raise InputError(f"`{name}` must be a list of (K_i, 4) tensors, got {type(gt_boxes).__name__}.")
    if len(gt_boxes) != batch:
        raise InputError(
            f"`{name}` has {len(gt_boxes)} entries but the batch has {batch} images; pass one box list per image."
        )
    checked = []
    for i, boxes in enumerate(gt_boxes):
        boxes = check_boxes(boxes, f"{name}[{i}]", rank=None)
        boxes = boxes.reshape(-1, 4)
        if boxes.shape[0] == 0:
            raise InputError(f"`{name}[{i}]` holds no box; every image needs at least one ground-truth box.")
        checked.append(boxes)
    k = max(bx.shape[0] for bx in checked)
    padded = torch.zeros(batch, k, 4, dtype=dtype, device=device)
    valid = torch.zeros(batch, k, dtype=torch.bool, device=device)
    for i, boxes in enumerate(checked):
        padded[i, : boxes.shape[0]] = boxes.to(device=device, dtype=dtype)
        valid[i, : boxes.shape[0]] = True
    return padded, valid


class LocalisationResult(NamedTuple):
    """Per-image misses (B,) bool and the error rate (fraction of misses)."""

    miss: torch.Tensor
    error: float


def localisation_error(
    pred_boxes: torch.Tensor,
    gt_boxes: Sequence[torch.Tensor] | torch.Tensor,
    iou_threshold: float = 0.5,
) -> LocalisationResult:
    """ILSVRC localisation error: an image is a hit when its predicted box has IoU >= ``iou_threshold`` with any of
    its ground-truth boxes.

    Args:
        pred_boxes: (B, 4) predicted boxes.
        gt_boxes: per image a (K_i, 4) tensor of ground-truth boxes of the image's class (same pixel frame).
        iou_threshold: IoU needed for a hit (0.5 in the ILSVRC protocol).

    Returns:
        ``LocalisationResult(miss, error)``: ``miss`` (B,) bool and ``error`` = mean of ``miss``.

    Example:
        >>> import torch
        >>> pred = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 1.0, 1.0]])
        >>> gt = [torch.tensor([[0.0, 0.0, 10.0, 9.0]]), torch.tensor([[5.0, 5.0, 9.0, 9.0]])]
        >>> localisation_error(pred, gt)
        LocalisationResult(miss=tensor([False,  True]), error=0.5)
    """
    check_boxes(pred_boxes, "pred_boxes")
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise InputError(f"`iou_threshold` must be in [0, 1], got {iou_threshold}.")
    batch = pred_boxes.shape[0]
    if batch == 0:
        raise InputError("`pred_boxes` is empty; pass at least one box.")
    gt, valid = pad_box_lists(gt_boxes, batch, device=pred_boxes.device, dtype=pred_boxes.dtype)
    p = pred_boxes.unsqueeze(1)  # (B, 1, 4)
    inter_w = (torch.minimum(p[..., 2], gt[..., 2]) - torch.maximum(p[..., 0], gt[..., 0])).clamp_min(0)
    inter_h = (torch.minimum(p[..., 3], gt[..., 3]) - torch.maximum(p[..., 1], gt[..., 1])).clamp_min(0)
    inter = inter_w * inter_h
    union = box_area(p) + box_area(gt) - inter
    iou = torch.where(union > 0, inter / union.clamp_min(torch.finfo(union.dtype).tiny), torch.zeros_like(inter))
    hit = ((iou >= iou_threshold) & valid).any(dim=1)
    miss = ~hit
    return LocalisationResult(miss, float(miss.float().mean()))
