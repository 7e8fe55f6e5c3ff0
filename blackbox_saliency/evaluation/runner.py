"""Run several maskers over one data set and collect every metric per method.

The metrics are :class:`~blackbox_saliency.metrics.base.Metric` objects (by default
:func:`~blackbox_saliency.metrics.builtin.default_metrics`: the paper's saliency metric under both crop protocols,
the localisation error under three protocols, the pointing game, deletion and insertion AUCs); the runner adds the
seconds per image spent in the masker alone (metrics are not timed). Images are read once per batch and shared by
all methods, so every method sees the same images; ``method_limits`` lets an expensive method (``iterative``) run
on N of the images only. Every subset, ``limit`` included, is spread evenly over the data set (image
``floor(i * N / n)``), so that class-sorted data (the CIFAR-10 files) give every class its share.

Example:
    >>> from blackbox_saliency import load_classifier
    >>> from blackbox_saliency.evaluation import EvaluationOptions, build_methods, evaluate, open_dataset
    >>> net = load_classifier("cifar10_resnet20")  # doctest: +SKIP
    >>> data = open_dataset("../shared/data/cifar10/cifar10_test2k.npz", size=net.input_size)  # doctest: +SKIP
    >>> methods = build_methods(["center", "full"], net)  # doctest: +SKIP
    >>> result = evaluate(net, data, methods, EvaluationOptions(limit=8))  # doctest: +SKIP
    >>> [row.method for row in result.rows]  # doctest: +SKIP
    ['center', 'full']
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.subsets import evenly_spaced
from ..devices import evaluating, module_device
from ..errors import InputError
from ..interfaces import BoxAwareMasker, Masker
from ..metrics.base import Column, Metric, MetricBatch, SummaryValue, check_metrics
from ..metrics.builtin import default_metrics
from ..metrics.frames import SourcePhotos
from .datasets import EvalBatch, EvalDataset, collate

__all__ = ["EvaluationOptions", "EvaluationResult", "MethodRow", "TARGETS", "evaluate"]

TARGETS = ("label", "predicted")
#: The keys of a report row that are the runner's, not a metric's.
ROW_KEYS = ("method", "images", "seconds_per_image", "description")


@dataclass(frozen=True)
class EvaluationOptions:
    """How :func:`evaluate` runs (what it measures is the ``metrics``' business), checked when made.

    Attributes:
        batch_size: images per masker call.
        limit: evaluate ``limit`` images only (an evenly spaced subset).
        method_limits: name -> number of images for that method (e.g. ``{"iterative": 20}``), evenly spaced over the
            evaluated ones.
        target: ``"label"`` (the ground-truth class) or ``"predicted"`` (the black box's top-1).
        progress: show a tqdm bar.

    Example:
        >>> EvaluationOptions(limit=8, target="predicted").batch_size
        16
    """

    batch_size: int = 16
    limit: int | None = None
    method_limits: Mapping[str, int] = field(default_factory=dict)
    target: str = "label"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError(f"`target` must be one of {TARGETS}, got {self.target!r}.")
        if self.batch_size < 1:
            raise InputError(f"`batch_size` must be >= 1, got {self.batch_size}.")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"`limit` must be >= 1, got {self.limit}.")


@dataclass
class MethodRow:
    """Summary of one method: its images, every metric's values (``None`` where a metric does not apply, e.g. no
    boxes), the seconds per image of the masker alone and its description.

    A value reads as an attribute too (``row.saliency`` is ``row.values["saliency"]``).

    Example:
        >>> row = MethodRow("center", 2, {"saliency": 0.5}, 0.001)
        >>> row.saliency, row.to_dict()["saliency"]
        (0.5, 0.5)
    """

    method: str
    images: int
    values: dict[str, SummaryValue]
    seconds_per_image: float
    description: str = ""

    def __getattr__(self, key: str) -> SummaryValue:
        values = self.__dict__.get("values")
        if values is None or key not in values:
            raise AttributeError(f"{type(self).__name__} has no value {key!r}")
        return values[key]

    def to_dict(self) -> dict[str, object]:
        """The row as the JSON report writes it: method, images, every metric value, seconds per image, description."""
        return {
            "method": self.method,
            "images": self.images,
            **self.values,
            "seconds_per_image": self.seconds_per_image,
            "description": self.description,
        }


@dataclass
class EvaluationResult:
    """Rows (one per method), the settings and facts of the run (``meta``), notes, per-image values, and what the
    report shows of the metrics: their ``columns`` and ``legend`` sentences."""

    rows: list[MethodRow]
    meta: dict[str, object]
    notes: list[str]
    per_image: dict[str, dict[str, list]]
    columns: tuple[Column, ...] = ()
    legend: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        rows = [row.to_dict() for row in self.rows]
        return {"meta": self.meta, "notes": self.notes, "rows": rows, "per_image": self.per_image}


@dataclass
class _MethodRun:
    """One method's masker, its own copy of every metric, its masker time and the names of its images."""

    masker: Masker
    metrics: list[Metric]
    seconds: float = 0.0
    names: list[str] = field(default_factory=list)

    def step(self, classifier: nn.Module, part: _Shared, method_images: int) -> None:
        """Explain the images of ``part`` (timed) and give the masks to every metric."""
        masks = _timed_masks(self, part.images, part.classes, part.boxes)
        batch = MetricBatch(
            classifier, part.images, part.classes, masks, part.boxes, part.sources, part.names, method_images
        )
        self.names += part.names
        for metric in self.metrics:
            metric.update(batch)

    def row(self, name: str) -> MethodRow:
        values = {key: value for metric in self.metrics for key, value in metric.summary().items()}
        description = f"{type(self.masker).__name__}({self.masker.extra_repr()})"
        return MethodRow(name, len(self.names), values, self.seconds / max(1, len(self.names)), description)

    def per_image(self) -> dict[str, list]:
        return {"names": self.names, **{key: v for metric in self.metrics for key, v in metric.per_image().items()}}


@dataclass(frozen=True)
class _Shared:
    """A batch as read once for every method, on the black box's device, with the classes to explain."""

    images: torch.Tensor
    classes: torch.Tensor
    boxes: list[torch.Tensor] | None
    sources: SourcePhotos | None
    names: list[str]

    @classmethod
    def read(cls, batch: EvalBatch, images: torch.Tensor, classes: torch.Tensor) -> _Shared:
        """``batch`` with its ``images`` and ``classes`` on the black box's device; boxes and photos moved there."""
        device = images.device
        boxes = None if batch.boxes is None else [b.to(device) for b in batch.boxes]
        sources = None
        if batch.sources is not None:
            sources = SourcePhotos([photo.to(device) for photo in batch.sources], batch.view_to_source)
        return cls(images, classes.to(device), boxes, sources, batch.names)

    def select(self, rows: list[int]) -> _Shared:
        """The rows ``rows`` of the batch."""
        pick = torch.tensor(rows, device=self.images.device)
        boxes = None if self.boxes is None else [self.boxes[j] for j in rows]
        sources = None
        if self.sources is not None:
            photos = [self.sources.photos[j] for j in rows]
            sources = SourcePhotos(photos, self.sources.view_to_source.index_select(0, pick.cpu()))
        names = [self.names[j] for j in rows]
        return _Shared(self.images.index_select(0, pick), self.classes.index_select(0, pick), boxes, sources, names)


@dataclass
class _Plan:
    """Which images each method sees: evaluation position ``i`` is data set image ``order[i]``."""

    total: int
    order: list[int]
    counts: dict[str, int]  # images per method
    chosen: dict[str, set[int]]  # positions each method runs on


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _check_run(dataset: EvalDataset, methods: Mapping[str, Masker], options: EvaluationOptions) -> None:
    """Refuse a run that cannot be done (InputError)."""
    if not methods:
        raise InputError("no method to evaluate; pass at least one masker.")
    if options.target == "label" and not dataset.has_labels:
        raise InputError("the data set has no labels; evaluate with target='predicted' (--target predicted).")
    unknown = sorted(set(options.method_limits) - set(methods))
    if unknown:
        raise InputError(f"`method_limits` names methods that are not evaluated: {unknown}.")


def _usable_methods(methods: Mapping[str, Masker], dataset: EvalDataset, notes: list[str]) -> dict[str, Masker]:
    """``methods`` less those that need ground-truth boxes the data set lacks (each skip noted)."""
    usable = dict(methods)
    for name in list(usable):
        if isinstance(usable[name], BoxAwareMasker) and not dataset.has_boxes:
            del usable[name]
            notes.append(f"`{name}` skipped: the data set has no ground-truth boxes.")
    if not usable:
        raise InputError("no method left to evaluate (ground-truth boxes are missing for the 'gt' method).")
    return usable


def _plan(size: int, methods: Mapping[str, Masker], options: EvaluationOptions) -> _Plan:
    """Every subset evenly spaced: the evaluated images over the data set, each method's over those."""
    total = size if options.limit is None else min(options.limit, size)
    counts = {name: min(total, options.method_limits.get(name, total)) for name in methods}
    chosen = {name: set(evenly_spaced(total, counts[name])) for name in methods}
    return _Plan(total, evenly_spaced(size, total), counts, chosen)


def _timed_masks(
    run: _MethodRun, images: torch.Tensor, classes: torch.Tensor, boxes: list[torch.Tensor] | None
) -> torch.Tensor:
    """The masker's masks (clamped to [0, 1], in the images' dtype); its wall time is added to ``run.seconds``."""
    if isinstance(run.masker, BoxAwareMasker):
        run.masker.set_boxes(boxes)
    _sync(images.device)
    began = time.perf_counter()
    with torch.no_grad():
        masks = run.masker(images, classes)
    _sync(images.device)
    run.seconds += time.perf_counter() - began
    return masks.detach().to(dtype=images.dtype).clamp(0.0, 1.0)


def _run_batches(
    classifier: nn.Module, dataset: EvalDataset, runs: dict[str, _MethodRun], plan: _Plan, options: EvaluationOptions
) -> int:
    """Read each batch once, run every method on its chosen rows of it; return how many images the black box got
    right."""
    device = module_device(classifier)
    correct = 0
    bar = tqdm(total=sum(plan.counts.values()), desc="evaluate", unit="img", disable=not options.progress)
    try:
        for start in range(0, plan.total, options.batch_size):
            positions = range(start, min(start + options.batch_size, plan.total))
            batch = collate([dataset[plan.order[i]] for i in positions])
            images = batch.images.to(device)
            with torch.no_grad():
                predicted = classifier(images).argmax(dim=1).cpu()
            if dataset.has_labels:
                correct += int((predicted == batch.labels).sum())
            shared = _Shared.read(batch, images, batch.labels if options.target == "label" else predicted)
            for name, run in runs.items():
                rows = [j for j, i in enumerate(positions) if i in plan.chosen[name]]
                if rows:
                    bar.set_postfix_str(name)
                    run.step(classifier, shared.select(rows), plan.counts[name])
                    bar.update(len(rows))
    finally:
        bar.close()
    return correct


def _fresh(metric: Metric) -> Metric:
    """A copy of ``metric`` with no values, for one method."""
    copied = copy.deepcopy(metric)
    copied.reset()
    return copied


def _meta(
    classifier: nn.Module, dataset: EvalDataset, plan: _Plan, options: EvaluationOptions, correct: int
) -> dict[str, object]:
    """The settings and facts of the run (the metrics add theirs)."""
    return {
        "data": dataset.description,
        "images": plan.total,
        "dataset_size": len(dataset),
        "target": options.target,
        "batch_size": options.batch_size,
        "classifier": type(classifier).__name__,
        "classifier_top1": (correct / plan.total) if dataset.has_labels and plan.total else None,
        "device": str(module_device(classifier)),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "method_images": plan.counts,
        "subset_rule": "evenly spaced: image floor(i * N / n) for i < n, over the data set in its stored order",
        "has_sources": dataset.has_sources,
    }


def _notes(runs: dict[str, _MethodRun], plan: _Plan) -> list[str]:
    """Per method: a subset run, then what its metrics remark."""
    notes = []
    for name, run in runs.items():
        if plan.counts[name] < plan.total:
            notes.append(
                f"`{name}` ran on {plan.counts[name]} of the {plan.total} images only (evenly spaced subset, for cost)."
            )
        notes += [note for metric in run.metrics for note in metric.notes(name)]
    return notes


def _counts(rows: list[MethodRow], columns: Sequence[Column]) -> dict[str, dict[str, object]]:
    """Per column computed on a subset (``count_key``): how many images each method's value is over."""
    keys = dict.fromkeys(c.count_key for c in columns if c.count_key)
    return {key: {row.method: row.values.get(key) for row in rows} for key in keys}


def evaluate(
    classifier: nn.Module,
    dataset: EvalDataset,
    methods: Mapping[str, Masker],
    options: EvaluationOptions | None = None,
    metrics: Sequence[Metric] | None = None,
) -> EvaluationResult:
    """Evaluate every masker of ``methods`` on ``dataset`` (or ``options.limit`` evenly spaced images of it).

    Args:
        classifier: the black box; masks explain its ``options.target`` class.
        dataset: an :class:`~blackbox_saliency.evaluation.datasets.EvalDataset`.
        methods: name -> masker (see :func:`~blackbox_saliency.evaluation.methods.build_methods`).
        options: batch size, subsets, target, progress bar (:class:`EvaluationOptions`; default: its defaults).
        metrics: what to measure, in report order (default :func:`~blackbox_saliency.metrics.builtin.default_metrics`;
            add one with ``metrics=[*default_metrics(), MyMetric()]``). Each method gets its own copy of each.
    """
    options = EvaluationOptions() if options is None else options
    metrics = check_metrics(default_metrics() if metrics is None else metrics, reserved=ROW_KEYS)
    _check_run(dataset, methods, options)
    facts = {key: value for metric in metrics for key, value in metric.setup(dataset).items()}
    skipped: list[str] = []
    methods = _usable_methods(methods, dataset, skipped)
    plan = _plan(len(dataset), methods, options)
    runs = {name: _MethodRun(masker, [_fresh(m) for m in metrics]) for name, masker in methods.items()}
    with evaluating(classifier):
        correct = _run_batches(classifier, dataset, runs, plan, options)
    rows = [run.row(name) for name, run in runs.items()]
    columns = tuple(column for metric in metrics for column in metric.columns)
    meta = {**_meta(classifier, dataset, plan, options, correct), **facts, **_counts(rows, columns)}
    per_image = {name: run.per_image() for name, run in runs.items()}
    legend = tuple(metric.legend for metric in metrics if metric.legend)
    return EvaluationResult(rows, meta, skipped + _notes(runs, plan), per_image, columns, legend)
