"""The metrics an evaluation report shows by default, as :class:`~blackbox_saliency.metrics.base.Metric` objects.

* :class:`SaliencyMetric`: the paper's saliency metric and its two terms, under both crop protocols;
* :class:`LocalisationError`: the localisation error under three box protocols (needs ground-truth boxes);
* :class:`PointingGame`: whether the mask's maximum falls on a ground-truth box (needs boxes);
* :class:`DeletionInsertion`: the deletion and insertion AUCs (optionally on a subset of each method's images).

:func:`default_metrics` is the list ``blackbox-saliency evaluate`` reports; add one with
``evaluate(..., metrics=[*default_metrics(), MyMetric()])``.

Example:
    >>> tuple(column.key for column in PointingGame().columns)
    ('pointing',)
    >>> tuple(metric.name for metric in default_metrics(deletion_steps=0))
    ('saliency', 'localisation', 'pointing', 'deletion_insertion')
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..data.subsets import evenly_spaced
from ..errors import InputError
from ..evidence.blend import upsample_mask
from ..interfaces import EvidenceRemover
from .base import Column, DataFacts, Metric, MetricBatch, SummaryValue, mean_or_none
from .boxes import localisation_error, mask_to_box
from .deletion import DeletionOptions, deletion_insertion
from .localisation import (
    ALPHA_GRID,
    CrossFitResult,
    alternating_folds,
    cross_fit_alpha,
    largest_component_boxes,
    mean_threshold_boxes,
)
from .pointing import pointing_game
from .saliency import AREA_FLOOR, SaliencyMetricOptions, SaliencyMetricResult, saliency_metric

__all__ = [
    "CROP_SOURCES",
    "DeletionInsertion",
    "LocalisationError",
    "PointingGame",
    "SaliencyMetric",
    "default_metrics",
]

#: Where the saliency metric's main protocol cuts its boxes: ``auto`` is ``source`` when the data keep the photos.
CROP_SOURCES = ("auto", "source", "view")
_PROTOCOLS = ("source", "view")
_HALF = (torch.float16, torch.bfloat16)


class SaliencyMetric(Metric):
    """The saliency metric ``log(max(a, area_floor)) - log p``
    (:func:`~blackbox_saliency.metrics.saliency.saliency_metric`).

    Reported under both crop protocols: ``view_*`` (the box cut out of the view the method saw) and ``source_*`` (the
    box mapped to the original photo and cut out of its pixels; ``None`` when the data keep no photos). ``saliency``,
    ``log_area`` and ``log_prob`` repeat those of the main protocol, ``crop_from`` (``"auto"``: source when possible).

    Example:
        >>> SaliencyMetric(crop_from="view").setup(type("Data", (), {"has_sources": True})())["crop_from"]
        'view'
    """

    name = "saliency"
    direction = "lower"
    columns = (
        Column("source_saliency", "saliency, source crop", direction="lower"),
        Column("source_log_area", "log area"),
        Column("source_log_prob", "log p"),
        Column("view_saliency", "saliency, view crop", direction="lower"),
        Column("view_log_area", "log area"),
        Column("view_log_prob", "log p"),
    )

    def __init__(self, threshold: float = 0.5, area_floor: float = AREA_FLOOR, crop_from: str = "auto") -> None:
        if crop_from not in CROP_SOURCES:
            raise InputError(f"`crop_from` must be one of {CROP_SOURCES}, got {crop_from!r}.")
        self.options = SaliencyMetricOptions(threshold=threshold, area_floor=area_floor)
        self.crop_from = crop_from
        self.protocol = "view" if crop_from == "auto" else crop_from  # resolved by setup()
        self.reset()

    @property
    def legend(self) -> str:
        return (
            "Saliency metric (Dabkowski & Gal 2017, sec. 4.2): "
            f"`log(max(a, {self.options.area_floor:g})) - log p`, with `a` the area fraction of the tightest box "
            "around the mask above the threshold and `p` the black box's probability of the class on that box, "
            "cropped and resized to its input size; it equals *mean log area* "
            "minus *mean log p* (lower is better). *Source crop*: the box, found on the view's mask, is mapped to the "
            "original photo and cut out of its own pixels (the area is a fraction of the photo); *view crop*: the box "
            "is cut out of the view the method saw."
        )

    def setup(self, data: DataFacts) -> dict[str, object]:
        if self.crop_from == "source" and not data.has_sources:
            raise InputError(
                "crop_from='source' needs the original photos, which this data set does not keep; use crop_from='view'."
            )
        self.protocol = ("source" if data.has_sources else "view") if self.crop_from == "auto" else self.crop_from
        return {"threshold": self.options.threshold, "area_floor": self.options.area_floor, "crop_from": self.protocol}

    def reset(self) -> None:
        self.values = {protocol: {"s": [], "log_area": [], "log_prob": []} for protocol in _PROTOCOLS}

    def _add(self, protocol: str, result: SaliencyMetricResult) -> None:
        log_area = torch.log(result.area.clamp_min(self.options.area_floor))
        values = self.values[protocol]
        values["s"] += result.s.tolist()
        values["log_area"] += log_area.tolist()
        values["log_prob"] += (log_area - result.s).tolist()

    def update(self, batch: MetricBatch) -> None:
        score = (batch.classifier, batch.images, batch.masks, batch.classes, self.options)
        self._add("view", saliency_metric(*score))
        if batch.sources is not None:
            self._add("source", saliency_metric(*score, sources=batch.sources))

    def summary(self) -> dict[str, SummaryValue]:
        main = self.values[self.protocol]
        out = {
            "saliency": mean_or_none(main["s"]),
            "log_area": mean_or_none(main["log_area"]),
            "log_prob": mean_or_none(main["log_prob"]),
        }
        for protocol in _PROTOCOLS:
            values = self.values[protocol]
            out[f"{protocol}_saliency"] = mean_or_none(values["s"])
            out[f"{protocol}_log_area"] = mean_or_none(values["log_area"])
            out[f"{protocol}_log_prob"] = mean_or_none(values["log_prob"])
        return out

    def per_image(self) -> dict[str, list]:
        main = self.values[self.protocol]
        return {
            "s": main["s"],
            "log_area": main["log_area"],
            "log_prob": main["log_prob"],
            "view_s": self.values["view"]["s"],
            "source_s": self.values["source"]["s"],
        }

    def notes(self, method: str) -> list[str]:
        value = mean_or_none(self.values[self.protocol]["s"])
        if value is not None and not math.isfinite(value):
            return [f"`{method}` has a non-finite saliency metric (a crop with probability 0)."]
        return []


class LocalisationError(Metric):
    """The share of images whose box misses every ground-truth box (IoU < 0.5), for three ways to draw the box.

    ``loc_error``: around the mask above ``threshold``; ``loc_error_paper``: around the pixels above
    ``alpha * mean(mask)``, ``alpha`` cross-fitted over ``folds`` folds (``paper_alphas``: each fold's; see
    :func:`~blackbox_saliency.metrics.localisation.cross_fit_alpha`); ``loc_error_casm``: around the largest
    connected component above the mean. ``None`` without ground-truth boxes.

    Example:
        >>> LocalisationError().setup(type("Data", (), {"has_sources": False})())["alpha_folds"]
        2
    """

    name = "localisation"
    direction = "lower"
    columns = (
        Column("loc_error", "loc. error, mask > threshold", "{:.1%}", direction="lower"),
        Column("loc_error_paper", "loc. error, alpha * mean", "{:.1%}", direction="lower"),
        Column("paper_alphas", "alpha per fold", "{}"),
        Column("loc_error_casm", "loc. error, CASM", "{:.1%}", direction="lower"),
    )

    def __init__(self, threshold: float = 0.5, folds: int = 2, alphas: Sequence[float] = ALPHA_GRID) -> None:
        alternating_folds(0, folds)  # refuses folds < 2
        self.threshold = threshold
        self.folds = folds
        self.alphas = tuple(float(alpha) for alpha in alphas)
        self.reset()

    @property
    def legend(self) -> str:
        split = (
            "the other fold of a two-fold split" if self.folds == 2 else f"the other folds of a {self.folds}-fold split"
        )
        return (
            "Localisation error: share of images whose box has IoU < 0.5 with every ground-truth box; the box is drawn "
            "around the mask above the fixed threshold, around the pixels above `alpha * mean(mask)` (Fong & Vedaldi "
            f"2017, Dabkowski & Gal 2017; `alpha` from 0..10 step 0.5, chosen per method on {split}, so no image is "
            "scored with an alpha tuned on it), or around the largest connected component above the mean (CASM, Zolna "
            "et al. 2020)."
        )

    def setup(self, data: DataFacts) -> dict[str, object]:
        rule = (
            "alpha * mean(mask) threshold, alpha from the grid 0..10 step 0.5, cross-fitted: a method's images "
            f"alternate over {self.folds} folds in evaluation order; each fold is scored with the alpha that "
            "localises best on the other folds (ties: smallest alpha)"
        )
        return {
            "threshold": self.threshold,
            "alpha_grid": list(self.alphas),
            "alpha_folds": self.folds,
            "alpha_rule": rule,
        }

    def reset(self) -> None:
        self.misses: list[bool] = []
        self.alpha_hits: list[list[bool]] = []
        self.casm_misses: list[bool] = []
        self._fitted: CrossFitResult | None = None

    def _threshold_boxes(self, batch: MetricBatch) -> torch.Tensor:
        """The saliency metric's boxes in view pixels: around the mask above the threshold (float32 for half images)."""
        dtype = torch.float32 if batch.images.dtype in _HALF else batch.images.dtype
        return mask_to_box(upsample_mask(batch.masks.to(dtype), tuple(batch.images.shape[-2:])), self.threshold)

    def update(self, batch: MetricBatch) -> None:
        if batch.boxes is None:
            return
        self._fitted = None
        full = upsample_mask(batch.masks, tuple(batch.images.shape[-2:]))
        self.misses += localisation_error(self._threshold_boxes(batch), batch.boxes).miss.tolist()
        by_alpha = mean_threshold_boxes(full, self.alphas)  # (B, A, 4)
        per_alpha_truth = [truth for truth in batch.boxes for _ in self.alphas]  # row-major over (image, alpha)
        misses = localisation_error(by_alpha.reshape(-1, 4), per_alpha_truth).miss.view(-1, len(self.alphas))
        self.alpha_hits += (~misses).tolist()
        self.casm_misses += localisation_error(largest_component_boxes(full), batch.boxes).miss.tolist()

    def fitted(self) -> CrossFitResult | None:
        """The ``alpha`` cross-fit over the images seen (``None`` with fewer images than folds)."""
        if self._fitted is None and len(self.alpha_hits) >= self.folds:
            hits = torch.tensor(self.alpha_hits, dtype=torch.bool)
            self._fitted = cross_fit_alpha(hits, alternating_folds(len(self.alpha_hits), self.folds), self.alphas)
        return self._fitted

    def summary(self) -> dict[str, SummaryValue]:
        fitted = self.fitted()
        return {
            "loc_error": mean_or_none(self.misses),
            "loc_error_paper": None if fitted is None else fitted.error,
            "paper_alphas": None if fitted is None else [fitted.alphas[fold] for fold in sorted(fitted.alphas)],
            "loc_error_casm": mean_or_none(self.casm_misses),
        }

    def per_image(self) -> dict[str, list]:
        fitted = self.fitted()
        return {
            "loc_miss": self.misses,
            "loc_miss_paper": [] if fitted is None else fitted.miss.tolist(),
            "loc_miss_casm": self.casm_misses,
        }


class PointingGame(Metric):
    """The share of images whose mask maximum lies within ``tolerance_px`` of a ground-truth box (needs boxes).

    Example:
        >>> "within 5 px of a ground-truth box" in PointingGame(tolerance_px=5).legend
        True
    """

    name = "pointing"
    direction = "higher"
    columns = (Column("pointing", "pointing game", "{:.1%}", direction="higher"),)

    def __init__(self, tolerance_px: float = 15.0) -> None:
        self.tolerance_px = tolerance_px
        self.reset()

    @property
    def legend(self) -> str:
        return (
            "Pointing game: share of images whose mask maximum lies within "
            f"{self.tolerance_px:g} px of a ground-truth box (ties: first pixel in row order, so constant masks point "
            "at the top-left corner)."
        )

    def reset(self) -> None:
        self.hits: list[bool] = []

    def update(self, batch: MetricBatch) -> None:
        if batch.boxes is not None:
            masks = upsample_mask(batch.masks, tuple(batch.images.shape[-2:]))  # boxes are in view pixels
            self.hits += pointing_game(masks, batch.boxes, self.tolerance_px).hits.tolist()

    def summary(self) -> dict[str, SummaryValue]:
        return {"pointing": mean_or_none(self.hits)}

    def per_image(self) -> dict[str, list]:
        return {"pointing_hit": self.hits}


class DeletionInsertion(Metric):
    """Deletion and insertion AUCs (:func:`~blackbox_saliency.metrics.deletion.deletion_insertion`), ``steps`` steps.

    ``steps=0`` skips them; ``limit`` computes them on that many of each method's images only (evenly spaced, for
    cost; ``deletion_images`` says how many). ``batch_size`` perturbed images go to the black box per call.

    Example:
        >>> DeletionInsertion(steps=8, limit=20).setup(None)
        {'deletion_steps': 8}
    """

    name = "deletion_insertion"
    direction = "lower"
    columns = (
        Column("deletion_auc", "deletion AUC", direction="lower", count_key="deletion_images"),
        Column("insertion_auc", "insertion AUC", direction="higher", count_key="deletion_images"),
    )

    def __init__(
        self, steps: int = 16, limit: int | None = None, batch_size: int = 64, remover: EvidenceRemover | None = None
    ) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise InputError(f"`deletion_steps` must be an int >= 0 (0 skips the curves), got {steps!r}.")
        self.steps = steps
        self.limit = limit
        self.options = DeletionOptions(steps=steps, remover=remover, batch_size=batch_size) if steps else None
        self.reset()

    @property
    def legend(self) -> str:
        how = (
            "blurred away / revealed" if self.options is None or self.options.remover is None else "removed / revealed"
        )
        return (
            f"Deletion / insertion AUC: area under the class probability while pixels are {how} in decreasing mask "
            "order (Petsiuk et al. 2018)."
        )

    def setup(self, data: DataFacts) -> dict[str, object]:
        return {"deletion_steps": self.steps}

    def reset(self) -> None:
        self.deletion: list[float] = []
        self.insertion: list[float] = []
        self.seen = 0

    def _rows(self, batch: MetricBatch) -> list[int]:
        """The batch's rows that get curves: those among the evenly spaced ``limit`` of the method's images."""
        first, count = self.seen, batch.images.shape[0]
        total = first + count if batch.method_images is None else batch.method_images
        chosen = set(evenly_spaced(total, total if self.limit is None else self.limit))
        return [row for row in range(count) if first + row in chosen]

    def update(self, batch: MetricBatch) -> None:
        rows = self._rows(batch) if self.options is not None else []
        self.seen += batch.images.shape[0]
        if not rows:
            return
        pick = torch.tensor(rows, device=batch.images.device)
        images, masks, classes = (t.index_select(0, pick) for t in (batch.images, batch.masks, batch.classes))
        curves = deletion_insertion(batch.classifier, images, masks, classes, self.options)
        self.deletion += curves.deletion.tolist()
        self.insertion += curves.insertion.tolist()

    def summary(self) -> dict[str, SummaryValue]:
        return {
            "deletion_auc": mean_or_none(self.deletion),
            "insertion_auc": mean_or_none(self.insertion),
            "deletion_images": len(self.deletion),
        }

    def per_image(self) -> dict[str, list]:
        return {"deletion": self.deletion, "insertion": self.insertion}

    def notes(self, method: str) -> list[str]:
        if self.steps and len(self.deletion) < self.seen:
            return [
                f"`{method}`: deletion/insertion curves on {len(self.deletion)} of its {self.seen} images "
                "(evenly spaced subset, for cost)."
            ]
        return []


def default_metrics(
    *,
    threshold: float = 0.5,
    crop_from: str = "auto",
    folds: int = 2,
    deletion_steps: int = 16,
    deletion_limit: int | None = None,
) -> list[Metric]:
    """The metrics of an evaluation report, in the report's column order: the one default list.

    Args:
        threshold: mask threshold of the saliency metric's and the localisation's box.
        crop_from: the saliency metric's main protocol: ``"source"`` (crop the original photo), ``"view"`` (crop the
            view the method saw) or ``"auto"`` (source when the data keep the photos).
        folds: folds of the ``alpha`` cross-fitting of the papers' localisation protocol.
        deletion_steps: points of the deletion/insertion curves minus one; 0 skips them.
        deletion_limit: compute the curves on that many evenly spaced images of each method only.

    Example:
        >>> tuple(type(metric).__name__ for metric in default_metrics())
        ('SaliencyMetric', 'LocalisationError', 'PointingGame', 'DeletionInsertion')
    """
    return [
        SaliencyMetric(threshold=threshold, crop_from=crop_from),
        LocalisationError(threshold=threshold, folds=folds),
        PointingGame(),
        DeletionInsertion(steps=deletion_steps, limit=deletion_limit),
    ]
