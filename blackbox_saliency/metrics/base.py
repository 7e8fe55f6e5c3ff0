"""What a metric is to the evaluation runner and the trainer's validation: a :class:`Metric` object.

A metric has a ``name``, the ``direction`` in which its main value is better (``"lower"`` or ``"higher"``), the
report ``columns`` it fills and a ``legend`` sentence for the report. The runner keeps one copy of each metric per
method; it calls :meth:`Metric.setup` once per run (check the data set, give facts for the report), then
:meth:`Metric.reset`, :meth:`Metric.update` with every :class:`MetricBatch` the method explained, and finally
:meth:`Metric.summary` (the method's row values), :meth:`Metric.per_image` and :meth:`Metric.notes`.

Example:
    >>> import torch
    >>> from blackbox_saliency.metrics.base import Metric, MetricBatch, mean_or_none
    >>> class MeanMask(Metric):
    ...     name, direction = "mean_mask", "lower"
    ...     def reset(self):
    ...         self.values = []
    ...     def update(self, batch):
    ...         self.values += batch.masks.flatten(1).mean(dim=1).tolist()
    ...     def summary(self):
    ...         return {"mean_mask": mean_or_none(self.values)}
    >>> metric = MeanMask()
    >>> metric.reset()
    >>> metric.update(MetricBatch(None, torch.rand(2, 3, 4, 4), torch.tensor([0, 1]), torch.ones(2, 1, 4, 4)))
    >>> metric.summary(), [column.title for column in metric.columns]
    ({'mean_mask': 1.0}, ['mean_mask ↓'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from ..errors import InputError
from .frames import SourcePhotos

__all__ = [
    "DIRECTIONS",
    "Column",
    "DataFacts",
    "Metric",
    "MetricBatch",
    "SummaryValue",
    "check_metrics",
    "mean_or_none",
]

#: The directions a value can be better in, and the arrow the report's header gives each.
DIRECTIONS: dict[str, str] = {"lower": "↓", "higher": "↑"}

#: A value of a method's row: a number, a list of numbers (e.g. one per fold), or ``None`` (does not apply).
SummaryValue = float | int | list[float] | None


def mean_or_none(values: Sequence[float | bool]) -> float | None:
    """The mean of ``values``, or ``None`` when there are none (the metric did not apply).

    Example:
        >>> mean_or_none([True, False]), mean_or_none([])
        (0.5, None)
    """
    return float(sum(values) / len(values)) if values else None


@dataclass(frozen=True)
class Column:
    """One column of the Markdown report.

    Attributes:
        key: the key of the value in the metric's :meth:`~Metric.summary` (and in the JSON rows).
        header: the column's header, without the arrow (see :attr:`title`).
        fmt: ``str.format`` pattern of a value (lists are joined with `` / ``, ``None`` prints ``n/a``).
        direction: ``"lower"`` or ``"higher"`` when smaller / larger values are better (the header gets an arrow),
            ``None`` for values that are not a score (an area, the tuned alpha...).
        count_key: the summary key holding how many images the value is over, when that may be fewer than the
            method's images (e.g. curves on a subset); the cell then says so and the run's facts list it per method.

    Example:
        >>> Column("pointing", "pointing game", "{:.1%}", direction="higher").title
        'pointing game ↑'
    """

    key: str
    header: str
    fmt: str = "{:.3f}"
    direction: str | None = None
    count_key: str | None = None

    def __post_init__(self) -> None:
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise InputError(
                f"column {self.key!r}: `direction` must be one of {sorted(DIRECTIONS)} or None, got {self.direction!r}."
            )

    @property
    def title(self) -> str:
        """The header with the direction's arrow (``↓``: lower is better, ``↑``: higher is better)."""
        return f"{self.header} {DIRECTIONS[self.direction]}" if self.direction else self.header


@dataclass(frozen=True)
class MetricBatch:
    """What one batch of one method offers its metrics (all tensors on the black box's device).

    Attributes:
        classifier: the black box (in eval mode), e.g. to classify crops or perturbed images.
        images: (B, 3, H, W) float images in [0, 1]: the views the method explained.
        classes: (B,) int64: the class each mask explains.
        masks: (B, 1, H, W) the method's masks, in [0, 1], in the images' dtype.
        boxes: per image a (K_i, 4) tensor of ground-truth boxes in view pixels, or ``None`` (the data have none).
        sources: the original photos and the view-to-source mapping, or ``None`` (the data keep no photos).
        names: the images' names.
        method_images: how many images the method is evaluated on in all (for metrics computed on a subset).
    """

    classifier: nn.Module
    images: torch.Tensor
    classes: torch.Tensor
    masks: torch.Tensor
    boxes: list[torch.Tensor] | None = None
    sources: SourcePhotos | None = None
    names: list[str] = field(default_factory=list)
    method_images: int | None = None


class DataFacts(Protocol):
    """What :meth:`Metric.setup` may ask of a data set (an
    :class:`~blackbox_saliency.evaluation.datasets.EvalDataset`)."""

    has_boxes: bool
    has_labels: bool
    has_sources: bool


class Metric:
    """Base class of the metrics the evaluation runner reports (see the module's docstring for the life cycle).

    Subclasses set ``name`` and ``direction`` and implement :meth:`reset`, :meth:`update` and :meth:`summary`;
    ``columns`` defaults to one column showing the summary value of key ``name``, and ``legend`` to no text.
    """

    #: Unique among the metrics of a run (the runner refuses two metrics of one name).
    name: str = ""
    #: Whether ``"lower"`` or ``"higher"`` values of the metric's main value are better.
    direction: str = "lower"
    #: A sentence or two for the report's legend: what the columns mean and where they come from.
    legend: str = ""

    @property
    def columns(self) -> tuple[Column, ...]:
        """The report columns this metric fills (keys of :meth:`summary`), in order."""
        return (Column(self.name, self.name, direction=self.direction),)

    def setup(self, data: DataFacts) -> dict[str, object]:
        """Check that the metric can run on ``data`` (InputError otherwise); return facts for the report's ``meta``."""
        return {}

    def reset(self) -> None:
        """Forget every value seen (the runner calls it on each method's copy before its first batch)."""
        raise NotImplementedError

    def update(self, batch: MetricBatch) -> None:
        """Add the values of one batch."""
        raise NotImplementedError

    def summary(self) -> dict[str, SummaryValue]:
        """The values of the method's report row (``None`` where the metric did not apply)."""
        raise NotImplementedError

    def per_image(self) -> dict[str, list[Any]]:
        """Every image's values, by key (the JSON report's ``per_image``); none by default."""
        return {}

    def notes(self, method: str) -> list[str]:
        """Remarks on ``method``'s values for the report (e.g. "computed on a subset"); none by default."""
        return []


def check_metrics(metrics: Sequence[Metric], reserved: Sequence[str] = ()) -> list[Metric]:
    """The metrics as a list, refusing non-metrics, an unknown direction, names or column keys used twice, and
    column keys among ``reserved`` (those of the report that are not a metric's).

    Example:
        >>> from blackbox_saliency.metrics import default_metrics
        >>> tuple(metric.name for metric in check_metrics(default_metrics()))
        ('saliency', 'localisation', 'pointing', 'deletion_insertion')
    """
    metrics = list(metrics)
    for metric in metrics:
        if not isinstance(metric, Metric):
            raise InputError(
                f"`metrics` must hold Metric objects (blackbox_saliency.metrics.Metric), got {type(metric).__name__}."
            )
        if metric.direction not in DIRECTIONS:
            raise InputError(
                f"metric {metric.name!r}: `direction` must be 'lower' or 'higher', got {metric.direction!r}."
            )
    for what, values in (("name", [m.name for m in metrics]), ("column", [c.key for m in metrics for c in m.columns])):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise InputError(f"metric {what}(s) used twice: {', '.join(repeated)}; give each metric its own.")
    taken = sorted({c.key for m in metrics for c in m.columns} & set(reserved))
    if taken:
        raise InputError(f"metric column(s) {', '.join(taken)} would hide the report's own; rename them.")
    return metrics
