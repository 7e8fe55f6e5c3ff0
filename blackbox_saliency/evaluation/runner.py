"""Run several maskers over one data set and collect every metric per method.

Per method: the paper's saliency metric ``s = log(max(a, 0.05)) - log p`` and its
two terms under both crop protocols (the box cut out of the original photo's
pixels, ``crop_from="source"``, the default for photo folders; or out of the
view the method saw, ``"view"``), the localisation error under three protocols
(box of the mask above ``threshold``; the papers' ``alpha * mean`` threshold with
``alpha`` cross-fitted over two folds, see
:func:`~blackbox_saliency.metrics.localisation.cross_fit_alpha`; CASM's largest
component above the mean; hit at IoU >= 0.5 with any ground-truth box), the
pointing game, deletion and insertion AUCs, and the seconds per image spent in
the masker alone (metrics are not timed). Images are read once per batch and shared by all methods, so
every method sees the same images; ``method_limits`` lets an expensive method
(``iterative``) run on N of the images only, and ``deletion_limit`` does the
same for the deletion/insertion curves (the report says so). Every subset,
``limit`` included, is spread evenly over the data set (image
``floor(i * N / n)``), so that class-sorted data (the CIFAR-10 files) give
every class its share.

Example:
    >>> from blackbox_saliency import load_classifier
    >>> from blackbox_saliency.evaluation import build_methods, evaluate, open_dataset
    >>> net = load_classifier("cifar10_resnet20")  # doctest: +SKIP
    >>> data = open_dataset("../shared/data/cifar10/cifar10_test2k.npz", size=net.input_size)  # doctest: +SKIP
    >>> result = evaluate(net, data, build_methods(["center", "full"], net), limit=8)  # doctest: +SKIP
    >>> [row.method for row in result.rows]  # doctest: +SKIP
    ['center', 'full']
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.subsets import evenly_spaced
from ..errors import InputError
from ..evidence.blend import upsample_mask
from ..interfaces import BoxAwareMasker, Masker
from ..metrics import deletion_insertion, localisation_error, pointing_game, saliency_metric
from ..metrics.localisation import ALPHA_GRID, alternating_folds, cross_fit_alpha, largest_component_boxes, mean_threshold_boxes
from .datasets import EvalDataset, collate

__all__ = ["MethodRow", "EvaluationResult", "evaluate", "TARGETS", "CROP_SOURCES"]

TARGETS = ("label", "predicted")
CROP_SOURCES = ("auto", "source", "view")
AREA_FLOOR = 0.05


@dataclass
class MethodRow:
    """Summary of one method (``None`` where a metric does not apply, e.g. no boxes).

    ``saliency``, ``log_area`` and ``log_prob`` are those of the run's crop protocol (``meta["crop_from"]``); the
    ``source_*`` and ``view_*`` fields give both protocols (``source_*`` is ``None`` without original photos).
    ``loc_error`` uses the fixed ``threshold``, ``loc_error_paper`` the cross-fitted ``alpha * mean`` threshold (the
    ``alpha`` of each fold in ``paper_alphas``), ``loc_error_casm`` the largest component above the mean.
    """

    method: str
    images: int
    saliency: float
    log_area: float
    log_prob: float
    source_saliency: float | None
    source_log_area: float | None
    source_log_prob: float | None
    view_saliency: float
    view_log_area: float
    view_log_prob: float
    loc_error: float | None
    loc_error_paper: float | None
    paper_alphas: list[float] | None
    loc_error_casm: float | None
    pointing: float | None
    deletion_auc: float | None
    insertion_auc: float | None
    deletion_images: int
    seconds_per_image: float
    description: str = ""


@dataclass
class _Accumulator:
    seconds: float = 0.0
    s: dict[str, list[float]] = field(default_factory=lambda: {"source": [], "view": []})
    log_area: dict[str, list[float]] = field(default_factory=lambda: {"source": [], "view": []})
    log_prob: dict[str, list[float]] = field(default_factory=lambda: {"source": [], "view": []})
    miss: list[bool] = field(default_factory=list)
    alpha_hits: list[list[bool]] = field(default_factory=list)
    casm_miss: list[bool] = field(default_factory=list)
    hit: list[bool] = field(default_factory=list)
    deletion: list[float] = field(default_factory=list)
    insertion: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


@dataclass
class EvaluationResult:
    """Rows (one per method), the settings and facts of the run (``meta``), notes, and per-image values."""

    rows: list[MethodRow]
    meta: dict[str, object]
    notes: list[str]
    per_image: dict[str, dict[str, list]]

    def to_dict(self) -> dict[str, object]:
        return {"meta": self.meta, "notes": self.notes, "rows": [asdict(r) for r in self.rows], "per_image": self.per_image}


def _mean(values: list) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _device_of(module: nn.Module) -> torch.device:
    return next((p.device for p in module.parameters()), torch.device("cpu"))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _add_metric(acc: _Accumulator, protocol: str, result) -> None:
    log_area = torch.log(result.area.clamp_min(AREA_FLOOR))
    acc.s[protocol] += result.s.tolist()
    acc.log_area[protocol] += log_area.tolist()
    acc.log_prob[protocol] += (log_area - result.s).tolist()


@dataclass(frozen=True)
class _Settings:
    """The run's settings, as :func:`evaluate` checked them (``protocol``: the resolved ``crop_from``)."""

    target: str
    threshold: float
    deletion_steps: int
    batch_size: int
    folds: int
    protocol: str


@dataclass
class _Plan:
    """Which images each method sees: evaluation position ``i`` is data set image ``order[i]``."""

    total: int
    order: list[int]
    counts: dict[str, int]  # images per method
    chosen: dict[str, set[int]]  # positions each method runs on
    curve_chosen: dict[str, set[int]]  # positions each method's deletion/insertion curves run on


def _check_arguments(dataset: EvalDataset, methods: Mapping[str, Masker], batch_size: int, limit: int | None, method_limits: Mapping[str, int],
                     target: str, deletion_steps: int, crop_from: str) -> str:
    """Refuse bad arguments (InputError); return the saliency metric's main protocol (``crop_from`` resolved)."""
    if target not in TARGETS:
        raise InputError(f"`target` must be one of {TARGETS}, got {target!r}.")
    if not methods:
        raise InputError("no method to evaluate; pass at least one masker.")
    if batch_size < 1:
        raise InputError(f"`batch_size` must be >= 1, got {batch_size}.")
    if limit is not None and limit < 1:
        raise InputError(f"`limit` must be >= 1, got {limit}.")
    if deletion_steps < 0:
        raise InputError(f"`deletion_steps` must be >= 0 (0 skips the curves), got {deletion_steps}.")
    if crop_from not in CROP_SOURCES:
        raise InputError(f"`crop_from` must be one of {CROP_SOURCES}, got {crop_from!r}.")
    if crop_from == "source" and not dataset.has_sources:
        raise InputError("crop_from='source' needs the original photos, which this data set does not keep; use crop_from='view'.")
    if target == "label" and not dataset.has_labels:
        raise InputError("the data set has no labels; evaluate with target='predicted' (--target predicted).")
    unknown = sorted(set(method_limits) - set(methods))
    if unknown:
        raise InputError(f"`method_limits` names methods that are not evaluated: {unknown}.")
    return ("source" if dataset.has_sources else "view") if crop_from == "auto" else crop_from


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


def _plan(size: int, methods: Mapping[str, Masker], limit: int | None, method_limits: Mapping[str, int], deletion_steps: int, deletion_limit: int | None) -> _Plan:
    """Every subset evenly spaced: the evaluated images over the data set, each method's over those, its curves' over its own."""
    total = size if limit is None else min(limit, size)
    counts = {name: min(total, method_limits.get(name, total)) for name in methods}
    chosen = {name: set(evenly_spaced(total, counts[name])) for name in methods}
    wanted_curves = total if deletion_limit is None else min(total, deletion_limit)
    curve_chosen = {}
    for name in methods:
        own = sorted(chosen[name])
        curve_chosen[name] = {own[k] for k in evenly_spaced(len(own), wanted_curves)} if deletion_steps else set()
    return _Plan(total, evenly_spaced(size, total), counts, chosen, curve_chosen)


def _add_localisation(a: _Accumulator, sal, masks: torch.Tensor, size: tuple[int, int], boxes: list[torch.Tensor]) -> None:
    """The three localisation protocols and the pointing game of one method on one batch."""
    a.miss += localisation_error(sal.boxes, boxes).miss.tolist()
    a.hit += pointing_game(masks, boxes).hits.tolist()
    full = upsample_mask(masks, size)
    by_alpha = mean_threshold_boxes(full, ALPHA_GRID)  # (b, A, 4)
    per_alpha_gt = [gt for gt in boxes for _ in ALPHA_GRID]  # row-major over (image, alpha), like by_alpha
    misses = localisation_error(by_alpha.reshape(-1, 4), per_alpha_gt).miss.view(-1, len(ALPHA_GRID))
    a.alpha_hits += (~misses).tolist()
    a.casm_miss += localisation_error(largest_component_boxes(full), boxes).miss.tolist()


def _timed_masks(masker: Masker, x: torch.Tensor, c: torch.Tensor, boxes: list[torch.Tensor] | None, a: _Accumulator) -> torch.Tensor:
    """The masker's masks (clamped to [0, 1], in the images' dtype); its wall time is added to ``a.seconds``."""
    if isinstance(masker, BoxAwareMasker):
        masker.set_boxes(boxes)
    _sync(x.device)
    began = time.perf_counter()
    with torch.no_grad():
        masks = masker(x, c)
    _sync(x.device)
    a.seconds += time.perf_counter() - began
    return masks.detach().to(dtype=x.dtype).clamp(0.0, 1.0)


def _run_method(classifier: nn.Module, masker: Masker, batch, images: torch.Tensor, classes: torch.Tensor, positions: range, rows_here: list[int],
                curve_chosen: set[int], a: _Accumulator, settings: _Settings) -> None:
    """One method on the rows ``rows_here`` of one batch: masks, both saliency protocols, localisation, curves."""
    device = images.device
    pick = torch.tensor(rows_here, device=device)
    x, c = images.index_select(0, pick), classes.index_select(0, pick)
    boxes = None if batch.boxes is None else [batch.boxes[j].to(device) for j in rows_here]
    masks = _timed_masks(masker, x, c, boxes, a)
    sal = saliency_metric(classifier, x, masks, c, threshold=settings.threshold, area_floor=AREA_FLOOR)
    _add_metric(a, "view", sal)
    if batch.sources is not None:
        sources = [batch.sources[j].to(device) for j in rows_here]
        mapping = batch.view_to_source.index_select(0, pick.cpu())
        on_source = saliency_metric(
            classifier, x, masks, c, threshold=settings.threshold, area_floor=AREA_FLOOR, source_images=sources, view_to_source_mapping=mapping
        )
        _add_metric(a, "source", on_source)
    a.names += [batch.names[j] for j in rows_here]
    if boxes is not None:
        _add_localisation(a, sal, masks, tuple(x.shape[-2:]), boxes)
    curve_rows = [k for k, j in enumerate(rows_here) if positions[j] in curve_chosen]
    if curve_rows:
        sel = torch.tensor(curve_rows, device=device)
        curves = deletion_insertion(
            classifier, x.index_select(0, sel), masks.index_select(0, sel), c.index_select(0, sel), steps=settings.deletion_steps, batch_size=64
        )
        a.deletion += curves.deletion.tolist()
        a.insertion += curves.insertion.tolist()


def _run_batches(classifier: nn.Module, dataset: EvalDataset, methods: Mapping[str, Masker], plan: _Plan, acc: dict[str, _Accumulator],
                 settings: _Settings, progress: bool) -> int:
    """Read each batch once, run every method on its chosen rows of it; return how many images the black box got right."""
    device = _device_of(classifier)
    correct = 0
    bar = tqdm(total=sum(plan.counts.values()), desc="evaluate", unit="img", disable=not progress)
    try:
        for start in range(0, plan.total, settings.batch_size):
            positions = range(start, min(start + settings.batch_size, plan.total))
            batch = collate([dataset[plan.order[i]] for i in positions])
            images = batch.images.to(device)
            with torch.no_grad():
                predicted = classifier(images).argmax(dim=1).cpu()
            if dataset.has_labels:
                correct += int((predicted == batch.labels).sum())
            classes = (batch.labels if settings.target == "label" else predicted).to(device)
            for name, masker in methods.items():
                rows_here = [j for j, i in enumerate(positions) if i in plan.chosen[name]]
                if not rows_here:
                    continue
                bar.set_postfix_str(name)
                _run_method(classifier, masker, batch, images, classes, positions, rows_here, plan.curve_chosen[name], acc[name], settings)
                bar.update(len(rows_here))
    finally:
        bar.close()
    return correct


def _row(name: str, masker: Masker, a: _Accumulator, fitted, protocol: str) -> MethodRow:
    """One method's summary row (``fitted``: its alpha cross-fit, or None with too few images)."""
    return MethodRow(
        method=name,
        images=len(a.s["view"]),
        saliency=_mean(a.s[protocol]),
        log_area=_mean(a.log_area[protocol]),
        log_prob=_mean(a.log_prob[protocol]),
        source_saliency=_mean(a.s["source"]),
        source_log_area=_mean(a.log_area["source"]),
        source_log_prob=_mean(a.log_prob["source"]),
        view_saliency=_mean(a.s["view"]),
        view_log_area=_mean(a.log_area["view"]),
        view_log_prob=_mean(a.log_prob["view"]),
        loc_error=_mean(a.miss),
        loc_error_paper=None if fitted is None else fitted.error,
        paper_alphas=None if fitted is None else [fitted.alphas[k] for k in sorted(fitted.alphas)],
        loc_error_casm=_mean(a.casm_miss),
        pointing=_mean(a.hit),
        deletion_auc=_mean(a.deletion),
        insertion_auc=_mean(a.insertion),
        deletion_images=len(a.deletion),
        seconds_per_image=a.seconds / max(1, len(a.s["view"])),
        description=f"{type(masker).__name__}({masker.extra_repr()})",
    )


def _rows(methods: Mapping[str, Masker], acc: dict[str, _Accumulator], plan: _Plan, settings: _Settings, notes: list[str]) -> tuple[list[MethodRow], dict]:
    """The rows (one per method) and the alpha cross-fits (per method with enough images); subsets are noted."""
    rows = []
    cross_fits = {}
    for name, masker in methods.items():
        a = acc[name]
        fitted = None
        if len(a.alpha_hits) >= settings.folds:
            fitted = cross_fit_alpha(torch.tensor(a.alpha_hits, dtype=torch.bool), alternating_folds(len(a.alpha_hits), settings.folds), ALPHA_GRID)
            cross_fits[name] = fitted
        rows.append(_row(name, masker, a, fitted, settings.protocol))
        if plan.counts[name] < plan.total:
            notes.append(f"`{name}` ran on {plan.counts[name]} of the {plan.total} images only (evenly spaced subset, for cost).")
        if settings.deletion_steps and len(a.deletion) < len(a.s["view"]):
            notes.append(f"`{name}`: deletion/insertion curves on {len(a.deletion)} of its {len(a.s['view'])} images (evenly spaced subset, for cost).")
    return rows, cross_fits


def _meta(classifier: nn.Module, dataset: EvalDataset, plan: _Plan, settings: _Settings, correct: int) -> dict[str, object]:
    """The settings and facts of the run."""
    folds = settings.folds
    return {
        "data": dataset.description,
        "images": plan.total,
        "dataset_size": len(dataset),
        "target": settings.target,
        "threshold": settings.threshold,
        "area_floor": AREA_FLOOR,
        "deletion_steps": settings.deletion_steps,
        "batch_size": settings.batch_size,
        "classifier": type(classifier).__name__,
        "classifier_top1": (correct / plan.total) if dataset.has_labels and plan.total else None,
        "device": str(_device_of(classifier)),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "method_images": plan.counts,
        "deletion_images": {name: len(chosen) for name, chosen in plan.curve_chosen.items()},
        "subset_rule": "evenly spaced: image floor(i * N / n) for i < n, over the data set in its stored order",
        "crop_from": settings.protocol,
        "has_sources": dataset.has_sources,
        "alpha_grid": list(ALPHA_GRID),
        "alpha_folds": folds,
        "alpha_rule": (
            f"alpha * mean(mask) threshold, alpha from the grid 0..10 step 0.5, cross-fitted: a method's images alternate over {folds} "
            "folds in evaluation order; each fold is scored with the alpha that localises best on the other folds (ties: smallest alpha)"
        ),
    }


def _per_image(acc: dict[str, _Accumulator], cross_fits: dict, protocol: str) -> dict[str, dict[str, list]]:
    """Every image's values, per method."""
    return {
        name: {
            "names": a.names,
            "s": a.s[protocol],
            "log_area": a.log_area[protocol],
            "log_prob": a.log_prob[protocol],
            "view_s": a.s["view"],
            "source_s": a.s["source"],
            "loc_miss": a.miss,
            "loc_miss_paper": [] if name not in cross_fits else cross_fits[name].miss.tolist(),
            "loc_miss_casm": a.casm_miss,
            "pointing_hit": a.hit,
            "deletion": a.deletion,
            "insertion": a.insertion,
        }
        for name, a in acc.items()
    }


def evaluate(
    classifier: nn.Module,
    dataset: EvalDataset,
    methods: Mapping[str, Masker],
    *,
    batch_size: int = 16,
    limit: int | None = None,
    method_limits: Mapping[str, int] | None = None,
    target: str = "label",
    threshold: float = 0.5,
    deletion_steps: int = 16,
    deletion_limit: int | None = None,
    crop_from: str = "auto",
    folds: int = 2,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate every masker of ``methods`` on ``dataset`` (or ``limit`` evenly spaced images of it).

    Args:
        classifier: the black box; masks explain its ``target`` class.
        dataset: an :class:`~blackbox_saliency.evaluation.datasets.EvalDataset`.
        methods: name -> masker (see :func:`~blackbox_saliency.evaluation.methods.build_methods`).
        batch_size: images per masker call.
        limit: evaluate ``limit`` images only (an evenly spaced subset).
        method_limits: name -> number of images for that method (e.g. ``{"iterative": 20}``), evenly spaced
            over the evaluated ones.
        target: ``"label"`` (the ground-truth class) or ``"predicted"`` (the black box's top-1).
        threshold: mask threshold of the saliency metric's and the localisation's box.
        deletion_steps: points of the deletion/insertion curves minus one; 0 skips them.
        deletion_limit: compute the curves on ``deletion_limit`` evenly spaced images only.
        crop_from: the saliency metric's main protocol: ``"source"`` (crop the original photo; needs a data set with
            sources, e.g. a photo folder), ``"view"`` (crop the view the method saw), ``"auto"`` (source when available).
            Both are computed whenever the originals are there.
        folds: folds of the ``alpha`` cross-fitting of the paper's localisation protocol (images alternate over folds).
        progress: show a tqdm bar.
    """
    method_limits = dict(method_limits or {})
    protocol = _check_arguments(dataset, methods, batch_size, limit, method_limits, target, deletion_steps, crop_from)
    settings = _Settings(target, threshold, deletion_steps, batch_size, folds, protocol)
    notes: list[str] = []
    methods = _usable_methods(methods, dataset, notes)
    plan = _plan(len(dataset), methods, limit, method_limits, deletion_steps, deletion_limit)
    acc = {name: _Accumulator() for name in methods}
    was_training = classifier.training
    classifier.eval()
    try:
        correct = _run_batches(classifier, dataset, methods, plan, acc, settings, progress)
    finally:
        classifier.train(was_training)
    rows, cross_fits = _rows(methods, acc, plan, settings, notes)
    for row in rows:
        if row.saliency is not None and not math.isfinite(row.saliency):
            notes.append(f"`{row.method}` has a non-finite saliency metric (a crop with probability 0).")
    return EvaluationResult(rows, _meta(classifier, dataset, plan, settings, correct), notes, _per_image(acc, cross_fits, protocol))
