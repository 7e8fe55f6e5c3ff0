"""Validation pass of the trainer: the paper's saliency metric of the masker vs the central-box baseline.

The baseline is :class:`~blackbox_saliency.baselines.boxes.CenterBoxMasker` (half the image area), the
``center`` method of ``blackbox-saliency evaluate``.

Example:
    >>> import torch
    >>> from blackbox_saliency.training.evaluation import CENTRAL_BOX
    >>> m = CENTRAL_BOX(torch.rand(2, 3, 32, 32), torch.tensor([0, 1]))
    >>> m.shape, round(float(m.mean()), 1)
    (torch.Size([2, 1, 32, 32]), 0.5)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..baselines.boxes import CenterBoxMasker
from ..evidence.blend import upsample_mask
from ..interfaces import TrainableMasker
from ..metrics.saliency import saliency_metric
from .sampler import derive_seed

__all__ = ["CENTRAL_BOX", "evaluate_masks"]

LabelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: The validation baseline: the central box covering half the image (the paper's, and ``evaluate``'s ``center``).
CENTRAL_BOX = CenterBoxMasker(area_fraction=0.5)


def evaluate_masks(
    masker: nn.Module,
    classifier: nn.Module,
    dataset: Dataset,
    label_fn: LabelFn,
    device: torch.device,
    batch_size: int,
    objective: nn.Module | None = None,
    seed: int = 0,
    with_baseline: bool = False,
) -> dict[str, float]:
    """Saliency metric (mean ``s``, area, probability) of ``masker`` on ``dataset`` for the labels given by ``label_fn``.

    With ``objective``, also the mean objective terms (``val_total``...), with alternative images fixed
    by ``seed`` so that passes are comparable. With ``with_baseline``, the same metric for the
    central box of half the image area (``baseline_*``) and for the whole image
    (``baseline_full_image_saliency_metric``).
    """
    was_training = masker.training
    masker.eval()
    s_all, area_all, prob_all, base_s, base_area, base_prob, full_s = [], [], [], [], [], [], []
    terms_sum: dict[str, float] = {}
    count = 0
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    generator = torch.Generator(device=device)
    try:
        with torch.no_grad():
            for number, (images, labels) in enumerate(loader):
                images = images.to(device)
                classes = label_fn(images, labels.to(device))
                if isinstance(masker, TrainableMasker):  # low-resolution masks: the objective's TV matches training
                    low = masker.forward_train(images, classes).masks
                    masks = upsample_mask(low, tuple(images.shape[-2:]))
                else:
                    low = masks = masker(images, classes)
                result = saliency_metric(classifier, images, masks, classes)
                s_all.append(result.s.cpu())
                area_all.append(result.area.cpu())
                prob_all.append(result.prob.cpu())
                if with_baseline:
                    base = saliency_metric(classifier, images, CENTRAL_BOX(images, classes), classes)
                    base_s.append(base.s.cpu())
                    base_area.append(base.area.cpu())
                    base_prob.append(base.prob.cpu())
                    full_s.append(saliency_metric(classifier, images, torch.ones_like(images[:, :1]), classes).s.cpu())
                if objective is not None:
                    generator.manual_seed(derive_seed(seed, 2, number))
                    terms = objective(images, low, classes, generator=generator)
                    for key, value in terms.mean().items():
                        terms_sum[key] = terms_sum.get(key, 0.0) + value * images.shape[0]
                count += images.shape[0]
    finally:
        masker.train(was_training)
    out = {
        "saliency_metric": float(torch.cat(s_all).mean()),
        "mean_area": float(torch.cat(area_all).mean()),
        "mean_prob": float(torch.cat(prob_all).mean()),
        "n": count,
    }
    out.update({f"val_{k}": v / count for k, v in terms_sum.items()})
    if with_baseline:
        out["baseline_saliency_metric"] = float(torch.cat(base_s).mean())
        out["baseline_mean_area"] = float(torch.cat(base_area).mean())
        out["baseline_mean_prob"] = float(torch.cat(base_prob).mean())
        out["baseline_full_image_saliency_metric"] = float(torch.cat(full_s).mean())
    return out
