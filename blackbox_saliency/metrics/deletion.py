"""Deletion and insertion curves (Petsiuk et al., 2018) and their areas under the curve.

Pixels are ordered by decreasing saliency (ties: row-major order). For ``k = 0 .. steps``
the first ``round(k * N / steps)`` pixels (``N = H * W``) are

* *deleted*: replaced by the alternative image ``A`` (from ``remover``, a strong blur by default);
* *inserted*: copied from the image into ``A``.

The classifier's softmax probability of the class along ``k`` gives two curves over the
removed/inserted fraction ``k / steps`` in [0, 1]; their trapezoid areas lie in [0, 1].
A good saliency map has a *low* deletion AUC (the probability collapses once the salient
pixels are gone) and a *high* insertion AUC.

All ``2 * B * (steps + 1)`` perturbed images are built on the fly on the images' device and
classified in chunks of ``batch_size``, whatever image or step they belong to.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from blackbox_saliency.interfaces import BlackBoxClassifier
    >>> net = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)), (8, 8), ["a", "b"])
    >>> r = deletion_insertion(net, torch.rand(2, 3, 8, 8), torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), steps=4)
    >>> r.deletion_curve.shape
    torch.Size([2, 5])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..input_checks import check_classes, check_generator, check_images, check_same_batch
from ..errors import InputError
from ..interfaces import EvidenceRemover, require_black_box
from ._results import per_image_dict
from .pointing import _check_saliency

__all__ = ["DeletionInsertionResult", "deletion_insertion", "pixel_ranks", "trapezoid_auc"]


@dataclass
class DeletionInsertionResult:
    """Per-image AUCs (B,), probability curves (B, steps + 1) and the fractions (steps + 1,) they are sampled at."""

    deletion: torch.Tensor
    insertion: torch.Tensor
    deletion_curve: torch.Tensor
    insertion_curve: torch.Tensor
    fractions: torch.Tensor

    @property
    def deletion_mean(self) -> float:
        """Mean deletion AUC (lower is better)."""
        return float(self.deletion.mean())

    @property
    def insertion_mean(self) -> float:
        """Mean insertion AUC (higher is better)."""
        return float(self.insertion.mean())

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly means and per-image values."""
        summary = {"deletion_auc": self.deletion_mean, "insertion_auc": self.insertion_mean, "steps": int(self.fractions.shape[0] - 1)}
        return per_image_dict(summary, deletion=self.deletion, insertion=self.insertion)


def trapezoid_auc(curves: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under curves (..., S + 1) sampled at equally spaced points of [0, 1].

    Example:
        >>> import torch
        >>> trapezoid_auc(torch.tensor([[1.0, 0.5, 0.0]])).tolist()
        [0.5]
    """
    steps = curves.shape[-1] - 1
    if steps < 1:
        raise InputError("a curve needs at least two points to have an area.")
    return (curves[..., 1:] + curves[..., :-1]).sum(dim=-1) / (2.0 * steps)


def pixel_ranks(saliency: torch.Tensor) -> torch.Tensor:
    """Rank (B, 1, H, W) of every pixel in decreasing saliency (0 = most salient; ties in row-major order)."""
    b = saliency.shape[0]
    flat = saliency.reshape(b, -1)
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return ranks.view(saliency.shape)


def deletion_insertion(
    classifier: nn.Module,
    images: torch.Tensor,
    saliency: torch.Tensor,
    classes: torch.Tensor,
    steps: int = 16,
    remover: EvidenceRemover | None = None,
    batch_size: int = 64,
    progress: bool = False,
    generator: torch.Generator | None = None,
) -> DeletionInsertionResult:
    """Deletion and insertion AUCs of saliency maps for a black-box classifier.

    Args:
        classifier: the black box (images in [0, 1] -> logits; ``num_classes`` is used to check
            ``classes`` when present). Run in eval mode (restored afterwards) without gradients.
        images: (B, 3, H, W) float images in [0, 1].
        saliency: (B, 1, h, w) saliency maps of any real range (bilinearly resized to H x W when
            their size differs); larger means more salient.
        classes: (B,) int64 class per image.
        steps: number of equal chunks of pixels removed/inserted (curves have ``steps + 1`` points).
        remover: evidence remover giving the alternative image; default a strong Gaussian blur.
        batch_size: number of perturbed images per classifier call.
        progress: show a tqdm progress bar over the classifier calls.
        generator: passed to a random ``remover``.

    Returns:
        :class:`DeletionInsertionResult`.
    """
    classifier = require_black_box(classifier)
    check_images(images)
    _check_saliency(saliency)
    check_classes(classes, classifier.num_classes)
    batch = check_same_batch(images=images, saliency=saliency, classes=classes)
    check_generator(generator, images.device)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"`steps` must be an int >= 1, got {steps!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"`batch_size` must be an int >= 1, got {batch_size!r}.")
    if remover is None:
        from ..evidence.removers import GaussianBlurRemover

        remover = GaussianBlurRemover()
    if not callable(remover):
        raise InputError(f"`remover` must be an EvidenceRemover (callable on images), got {type(remover).__name__}.")

    device = images.device
    height, width = images.shape[-2:]
    saliency = saliency.to(device=device)
    if tuple(saliency.shape[-2:]) != (height, width):
        saliency = F.interpolate(saliency.to(images.dtype), size=(height, width), mode="bilinear", align_corners=False)
    ranks = pixel_ranks(saliency)
    with torch.no_grad():
        alternative = remover(images, generator)
    n_pixels = height * width
    counts = (torch.arange(steps + 1, device=device) * n_pixels + steps // 2) // steps  # round(k N / steps)
    per_kind = batch * (steps + 1)
    total = 2 * per_kind
    classes = classes.to(device)

    probs = torch.empty(total, dtype=torch.float32 if images.dtype in (torch.float16, torch.bfloat16) else images.dtype, device=device)
    was_training = classifier.training
    classifier.eval()
    try:
        with torch.no_grad():
            for start in tqdm(range(0, total, batch_size), desc="deletion/insertion", disable=not progress, leave=False):
                t = torch.arange(start, min(start + batch_size, total), device=device)
                insertion = (t >= per_kind).view(-1, 1, 1, 1)
                rest = t % per_kind
                b, k = rest // (steps + 1), rest % (steps + 1)
                top = ranks[b] < counts[k].view(-1, 1, 1, 1)
                use_alternative = top != insertion  # deletion: the top pixels go; insertion: only they stay
                perturbed = torch.where(use_alternative, alternative[b], images[b])
                logits = classifier(perturbed)
                probs[start : start + t.numel()] = F.softmax(logits.to(probs.dtype), dim=1).gather(1, classes[b].view(-1, 1)).squeeze(1)
    finally:
        classifier.train(was_training)
    curves = probs.view(2, batch, steps + 1)
    fractions = counts.to(probs.dtype) / n_pixels
    return DeletionInsertionResult(
        deletion=trapezoid_auc(curves[0]),
        insertion=trapezoid_auc(curves[1]),
        deletion_curve=curves[0],
        insertion_curve=curves[1],
        fractions=fractions,
    )
