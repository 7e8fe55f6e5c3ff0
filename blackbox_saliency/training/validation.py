"""Validation of the trainer: the numbers an evaluation report prints, on a fixed held-out subset, and ``best.pt``.

The trainer validates with :func:`blackbox_saliency.evaluation.runner.evaluate` itself and the same
:class:`~blackbox_saliency.metrics.base.Metric` objects as a report (:func:`validation_metrics`: the saliency
metric under both crop protocols, the three localisation errors where the data have boxes, the pointing game;
no deletion/insertion curves), on ``val_size`` evenly spaced images of the validation data. A photo folder
(``val_dev/`` with its ``boxes.csv``) is opened exactly as ``blackbox-saliency evaluate`` opens it (the
whole photo resized to the input, boxes cut out of the original pixels); an in-memory
:class:`~blackbox_saliency.training.data.ImageDataset` is wrapped as images with labels only.

:class:`BestKeeper` follows one declared :data:`SELECTION_METRICS` entry and says when a validation beat
every earlier one, so that the trainer writes ``best.pt``: the run keeps its best masker whatever the
objective does after it (masks that widen with training, for example).

Example:
    >>> keeper = BestKeeper("saliency")
    >>> keeper.update(0.3, step=0), keeper.update(0.5, step=100), keeper.update(-0.1, step=200)
    (True, False, True)
    >>> keeper.state()
    {'metric': 'saliency', 'value': -0.1, 'step': 200}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..devices import evaluating
from ..errors import InputError
from ..evaluation.datasets import EvalDataset, EvalSample, open_dataset
from ..evaluation.runner import EvaluationOptions, evaluate
from ..metrics.base import Metric
from ..metrics.builtin import DeletionInsertion, default_metrics
from .data import ImageDataset

__all__ = [
    "BestKeeper",
    "ImagesAsEvalData",
    "SELECTION_METRICS",
    "open_validation_data",
    "validate",
    "validation_metrics",
]

#: What ``best.pt`` may be selected by: a value of a :class:`~blackbox_saliency.evaluation.runner.MethodRow` and its
#: direction.
SELECTION_METRICS: dict[str, str] = {
    "saliency": "min",  # the saliency metric under the run's crop protocol (source crop for photo folders)
    "view_saliency": "min",
    "loc_error": "min",
    "loc_error_paper": "min",  # alpha * mean, cross-fitted
    "loc_error_casm": "min",
    "pointing": "max",
}

#: The row values a validation logs (the rest of a report row is about timing and descriptions).
LOGGED_FIELDS = (
    "images",
    "saliency",
    "log_area",
    "log_prob",
    "source_saliency",
    "view_saliency",
    "loc_error",
    "loc_error_paper",
    "loc_error_casm",
    "pointing",
)


def validation_metrics() -> list[Metric]:
    """The metrics of a validation: those of a report, without the deletion/insertion curves (too slow to repeat).

    Example:
        >>> [metric.name for metric in validation_metrics()]
        ['saliency', 'localisation', 'pointing']
    """
    return [metric for metric in default_metrics() if not isinstance(metric, DeletionInsertion)]


class ImagesAsEvalData(EvalDataset):
    """An in-memory training-style data set (images, labels) seen by the evaluation runner (no boxes, no source photos).

    ``label_table`` maps the data set's labels to class indices (``None``: they are class indices already).
    """

    def __init__(self, images: ImageDataset, label_table: Any = None) -> None:
        self.images = images
        self.table = label_table
        self.has_labels = bool(images.labelled)
        self.description = f"{images.source or type(images).__name__}: {len(images)} images with labels, no boxes"

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> EvalSample:
        image, label = self.images[index]
        label = int(label)
        if self.table is not None and label >= 0:
            label = int(self.table[label])
        return EvalSample(image, label, None, f"{index}")


def open_validation_data(
    path: str | None, given: ImageDataset | None, size: int, label_table: Any = None
) -> EvalDataset | None:
    """The validation data as the evaluation runner reads it: ``given`` wrapped, else ``path`` opened like
    ``evaluate`` does."""
    if given is not None:
        return ImagesAsEvalData(given, label_table)
    if not path:
        return None
    return open_dataset(path, size=(size, size))


def validate(
    masker: nn.Module,
    classifier: nn.Module,
    dataset: EvalDataset,
    *,
    baselines: dict[str, nn.Module] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate ``masker`` (and ``baselines``, e.g. the central box) on ``limit`` evenly spaced images of ``dataset``.

    ``options`` are those of :class:`~blackbox_saliency.evaluation.runner.EvaluationOptions` (``limit``,
    ``batch_size``, ``target``...; no progress bar by default); the metrics are :func:`validation_metrics`.
    Returns ``{field: value}`` of the masker's report row (:data:`LOGGED_FIELDS`), and
    ``{"baselines": {name: {field: value}}}`` when baselines are given.
    """
    methods = {"masker": masker, **(baselines or {})}
    settings = EvaluationOptions(**{"progress": False, **options})
    with evaluating(masker), torch.no_grad():
        result = evaluate(classifier, dataset, methods, settings, validation_metrics())
    rows = {row.method: {k: v for k, v in row.to_dict().items() if k in LOGGED_FIELDS} for row in result.rows}
    out = dict(rows["masker"])
    if baselines:
        out["baselines"] = {name: rows[name] for name in baselines}
    return out


class BestKeeper:
    """Follows one :data:`SELECTION_METRICS` entry across validations; :meth:`update` is True for a new best."""

    def __init__(self, metric: str, value: float | None = None, step: int | None = None) -> None:
        if metric not in SELECTION_METRICS:
            raise InputError(f"unknown selection metric {metric!r}; choose one of {sorted(SELECTION_METRICS)}.")
        self.metric = metric
        self.better: Callable[[float, float], bool] = (
            (lambda a, b: a < b) if SELECTION_METRICS[metric] == "min" else (lambda a, b: a > b)
        )
        self.value = value
        self.step = step

    @classmethod
    def from_state(cls, metric: str, state: object) -> BestKeeper:
        """Restore from :meth:`state` (as saved in a training checkpoint); another metric's state starts afresh."""
        if isinstance(state, dict) and state.get("metric") == metric and isinstance(state.get("value"), (int, float)):
            return cls(metric, float(state["value"]), int(state.get("step") or 0))
        return cls(metric)

    def update(self, value: float | None, step: int) -> bool:
        """Record a validation's value of the metric; True when it beats every earlier one (a missing value never
        does)."""
        if value is None or not math.isfinite(float(value)):
            return False
        if self.value is None or self.better(float(value), self.value):
            self.value, self.step = float(value), int(step)
            return True
        return False

    def state(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "step": self.step}
