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
    >>> images, saliency = torch.rand(2, 3, 8, 8), torch.rand(2, 1, 8, 8)
    >>> r = deletion_insertion(net, images, saliency, torch.tensor([0, 1]), DeletionOptions(steps=4))
    >>> r.deletion_curve.shape
    torch.Size([2, 5])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..devices import evaluating
from ..errors import InputError
from ..input_checks import check_classes, check_generator, check_images, check_same_batch
from ..interfaces import EvidenceRemover, require_black_box
from ._results import per_image_dict
from .pointing import _check_saliency

__all__ = ["DeletionInsertionResult", "DeletionOptions", "deletion_insertion", "pixel_ranks", "trapezoid_auc"]


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
        summary = {
            "deletion_auc": self.deletion_mean,
            "insertion_auc": self.insertion_mean,
            "steps": int(self.fractions.shape[0] - 1),
        }
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


@dataclass(frozen=True)
class DeletionOptions:
    """Settings of :func:`deletion_insertion`, checked when made.

    Attributes:
        steps: number of equal chunks of pixels removed/inserted (curves have ``steps + 1`` points).
        remover: evidence remover giving the alternative image (``None``: a strong Gaussian blur).
        batch_size: number of perturbed images per classifier call.
        progress: show a tqdm progress bar over the classifier calls.
        generator: passed to a random ``remover``.

    Example:
        >>> DeletionOptions(steps=4).batch_size
        64
    """

    steps: int = 16
    remover: EvidenceRemover | None = None
    batch_size: int = 64
    progress: bool = False
    generator: torch.Generator | None = None

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise InputError(f"`steps` must be an int >= 1, got {self.steps!r}.")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"`batch_size` must be an int >= 1, got {self.batch_size!r}.")
        if self.remover is not None and not callable(self.remover):
            raise InputError(
                f"`remover` must be an EvidenceRemover (callable on images), got {type(self.remover).__name__}."
            )

    def evidence_remover(self) -> EvidenceRemover:
        """The remover to use: ``remover``, or the default blur."""
        if self.remover is not None:
            return self.remover
        from ..evidence.removers import GaussianBlurRemover

        return GaussianBlurRemover()


def _pixel_counts(steps: int, pixels: int, device: torch.device) -> torch.Tensor:
    """How many pixels are removed (inserted) at each of the ``steps + 1`` points: ``round(k N / steps)``."""
    return (torch.arange(steps + 1, device=device) * pixels + steps // 2) // steps


def _curve_probabilities(
    classifier: nn.Module,
    images: torch.Tensor,
    alternative: torch.Tensor,
    ranks: torch.Tensor,
    classes: torch.Tensor,
    options: DeletionOptions,
) -> torch.Tensor:
    """The class probability on every perturbed image: (2 * B * (steps + 1),), deletion first, then insertion."""
    steps, device = options.steps, images.device
    counts = _pixel_counts(steps, images.shape[-2] * images.shape[-1], device)
    per_kind = images.shape[0] * (steps + 1)
    total = 2 * per_kind
    half = images.dtype in (torch.float16, torch.bfloat16)
    probs = torch.empty(total, dtype=torch.float32 if half else images.dtype, device=device)
    chunks = tqdm(
        range(0, total, options.batch_size), desc="deletion/insertion", disable=not options.progress, leave=False
    )
    with evaluating(classifier), torch.no_grad():
        for start in chunks:
            index = torch.arange(start, min(start + options.batch_size, total), device=device)
            insertion = (index >= per_kind).view(-1, 1, 1, 1)
            rest = index % per_kind
            image, step = rest // (steps + 1), rest % (steps + 1)
            top = ranks[image] < counts[step].view(-1, 1, 1, 1)
            use_alternative = top != insertion  # deletion: the top pixels go; insertion: only they stay
            perturbed = torch.where(use_alternative, alternative[image], images[image])
            logits = classifier(perturbed)
            wanted = classes[image].view(-1, 1)
            probs[start : start + index.numel()] = F.softmax(logits.to(probs.dtype), dim=1).gather(1, wanted).squeeze(1)
    return probs


def deletion_insertion(
    classifier: nn.Module,
    images: torch.Tensor,
    saliency: torch.Tensor,
    classes: torch.Tensor,
    options: DeletionOptions | None = None,
) -> DeletionInsertionResult:
    """Deletion and insertion AUCs of saliency maps for a black-box classifier.

    Args:
        classifier: the black box (images in [0, 1] -> logits; ``num_classes`` is used to check
            ``classes`` when present). Run in eval mode (restored afterwards) without gradients.
        images: (B, 3, H, W) float images in [0, 1].
        saliency: (B, 1, h, w) saliency maps of any real range (bilinearly resized to H x W when
            their size differs); larger means more salient.
        classes: (B,) int64 class per image.
        options: steps, remover, chunk size... (:class:`DeletionOptions`; default: 16 steps, blur).

    Returns:
        :class:`DeletionInsertionResult`.
    """
    classifier = require_black_box(classifier)
    options = DeletionOptions() if options is None else options
    check_images(images)
    _check_saliency(saliency)
    check_classes(classes, classifier.num_classes)
    batch = check_same_batch(images=images, saliency=saliency, classes=classes)
    check_generator(options.generator, images.device)
    remover = options.evidence_remover()
    height, width = images.shape[-2:]
    saliency = saliency.to(device=images.device)
    if tuple(saliency.shape[-2:]) != (height, width):
        saliency = F.interpolate(saliency.to(images.dtype), size=(height, width), mode="bilinear", align_corners=False)
    with torch.no_grad():
        alternative = remover(images, options.generator)
    probs = _curve_probabilities(
        classifier, images, alternative, pixel_ranks(saliency), classes.to(images.device), options
    )
    curves = probs.view(2, batch, options.steps + 1)
    fractions = _pixel_counts(options.steps, height * width, images.device).to(probs.dtype) / (height * width)
    return DeletionInsertionResult(
        deletion=trapezoid_auc(curves[0]),
        insertion=trapezoid_auc(curves[1]),
        deletion_curve=curves[0],
        insertion_curve=curves[1],
        fractions=fractions,
    )
