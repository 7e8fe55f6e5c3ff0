"""Boxes from saliency maps as the localisation papers draw them, and the per-method threshold tuning.

Two protocols, both scored with :func:`~blackbox_saliency.metrics.boxes.localisation_error`
(IoU >= 0.5 with any ground-truth box of the image):

* **mean threshold** (Fong & Vedaldi 2017; Dabkowski & Gal 2017): the salient pixels are
  those above ``alpha * mean(map)``, the box is the tightest one around all of them;
  ``alpha`` is chosen per method from :data:`ALPHA_GRID` (0 to 10, step 0.5) on images that
  are *not* reported. :func:`cross_fit_alpha` does that by k-fold cross-fitting: the images
  of fold ``k`` are scored with the ``alpha`` that is best on the other folds, so every image is
  reported and none is scored with a threshold tuned on it.
* **largest component** (CASM, Zolna et al. 2020, and its successors): the pixels above the
  mean, the largest 4-connected component of them, its box. No tuning.

Example:
    >>> import torch
    >>> m = torch.zeros(1, 1, 6, 6)
    >>> m[0, 0, 1:3, 1:3] = 1.0  # a 2x2 blob ...
    >>> m[0, 0, 5, 5] = 1.0      # ... and a stray pixel
    >>> largest_component_boxes(m).tolist()
    [[1.0, 1.0, 3.0, 3.0]]
    >>> mean_threshold_boxes(m, alphas=(1.0,))[:, 0].tolist()  # the mean threshold keeps both
    [[1.0, 1.0, 6.0, 6.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..input_checks import check_masks
from .boxes import mask_to_box

__all__ = [
    "ALPHA_GRID",
    "CrossFitResult",
    "alternating_folds",
    "cross_fit_alpha",
    "largest_component_boxes",
    "mean_threshold_boxes",
]

ALPHA_GRID: tuple[float, ...] = tuple(0.5 * i for i in range(21))
"""The ``alpha`` grid of the mean-threshold protocol: 0, 0.5, ..., 10."""


def mean_threshold_boxes(masks: torch.Tensor, alphas: Sequence[float] = ALPHA_GRID) -> torch.Tensor:
    """Boxes (B, A, 4) around the pixels above ``alpha * mean(mask)``, for each of the A ``alphas``.

    A mask with no pixel above its threshold gets the one-pixel box around its maximum (as
    :func:`~blackbox_saliency.metrics.boxes.mask_to_box`).
    """
    check_masks(masks, check_range=False)
    if len(alphas) == 0:
        raise InputError("`alphas` is empty; pass at least one multiple of the mean (e.g. ALPHA_GRID).")
    means = masks.flatten(1).mean(dim=1)
    return torch.stack([mask_to_box(masks, float(alpha) * means) for alpha in alphas], dim=1)


def largest_component_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Box (B, 4) of the largest 4-connected component of the pixels above each mask's mean (CASM protocol).

    Ties between components of equal size go to the one found first in row-major order. A
    constant mask (nothing above its mean) counts as salient everywhere: the whole-image box.
    """
    from scipy import ndimage

    check_masks(masks, check_range=False)
    b, _, h, w = masks.shape
    above = (masks[:, 0] > masks.flatten(1).mean(dim=1).view(b, 1, 1)).cpu().numpy()
    boxes = np.zeros((b, 4), dtype=np.float64)
    for i in range(b):
        labels, count = ndimage.label(above[i])
        if count == 0:
            boxes[i] = (0, 0, w, h)
            continue
        sizes = np.bincount(labels.ravel())[1:]
        rows, cols = np.nonzero(labels == 1 + int(np.argmax(sizes)))
        boxes[i] = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    return torch.as_tensor(boxes, dtype=masks.dtype, device=masks.device)


def alternating_folds(count: int, folds: int = 2) -> list[int]:
    """Fold of each of ``count`` images: image ``i`` is in fold ``i % folds`` (spread evenly, like the evaluated
    subsets).

    Example:
        >>> alternating_folds(5)
        [0, 1, 0, 1, 0]
    """
    if folds < 2:
        raise InputError(f"cross-fitting needs at least 2 folds, got {folds}.")
    return [i % folds for i in range(count)]


@dataclass
class CrossFitResult:
    """Per-image misses (n,) bool, each fold's chosen ``alpha`` and the images it was tuned on."""

    miss: torch.Tensor
    alphas: dict[int, float]
    tuned_on: dict[int, list[int]]

    @property
    def error(self) -> float:
        return float(self.miss.float().mean())


def cross_fit_alpha(hits: torch.Tensor, fold_of: Sequence[int], alphas: Sequence[float] = ALPHA_GRID) -> CrossFitResult:
    """Score every image with the ``alpha`` that localises best on the *other* folds.

    Args:
        hits: (n, A) bool, image ``i`` localised correctly with ``alphas[a]``.
        fold_of: (n,) fold index of each image (see :func:`alternating_folds`); at least two folds.
        alphas: the grid the columns of ``hits`` stand for.

    Ties pick the smallest ``alpha``.

    Example:
        >>> import torch
        >>> hits = torch.tensor([[True, False], [True, False], [False, True], [True, False]])
        >>> r = cross_fit_alpha(hits, [0, 1, 0, 1], alphas=(1.0, 2.0))
        >>> r.alphas, r.miss.tolist()
        ({0: 1.0, 1: 1.0}, [False, False, True, False])
    """
    if hits.dim() != 2 or hits.shape[1] != len(alphas):
        raise InputError(f"`hits` must be (n, {len(alphas)}) for {len(alphas)} alphas, got {tuple(hits.shape)}.")
    folds = torch.as_tensor(list(fold_of), dtype=torch.int64)
    if folds.shape[0] != hits.shape[0]:
        raise InputError(f"`fold_of` has {folds.shape[0]} entries but `hits` {hits.shape[0]} images.")
    present = sorted(set(folds.tolist()))
    if len(present) < 2:
        raise InputError("cross-fitting needs images in at least two folds (evaluate at least 2 images).")
    miss = torch.zeros(hits.shape[0], dtype=torch.bool)
    chosen, tuned_on = {}, {}
    for fold in present:
        tune = torch.nonzero(folds != fold).flatten()
        report = torch.nonzero(folds == fold).flatten()
        best = int(hits.index_select(0, tune).sum(dim=0).argmax())  # argmax: the first (smallest) alpha on ties
        chosen[fold], tuned_on[fold] = float(alphas[best]), tune.tolist()
        miss[report] = ~hits[report, best].bool()
    return CrossFitResult(miss, chosen, tuned_on)
