"""Evaluation metrics: boxes and localisation error, the paper's saliency metric, the pointing game, deletion/insertion.

Two layers: tensor maths (:func:`saliency_metric`, :func:`localisation_error`, :func:`pointing_game`,
:func:`deletion_insertion`...; the ground truth on disk, ``boxes.csv``, is read by
:func:`blackbox_saliency.data.load_val_boxes`), and :class:`Metric` objects that accumulate those over an evaluation
and say how the report shows them (:mod:`~blackbox_saliency.metrics.base`; the built-in ones and
:func:`default_metrics` in :mod:`~blackbox_saliency.metrics.builtin`).

Example:
    >>> import torch
    >>> from blackbox_saliency.metrics import mask_to_box, box_iou
    >>> box = mask_to_box(torch.ones(1, 1, 4, 4))
    >>> box_iou(box, box).item()
    1.0
"""

from .base import Column, Metric, MetricBatch, check_metrics, mean_or_none
from .boxes import (
    LocalisationResult,
    box_area,
    box_iou,
    check_boxes,
    localisation_error,
    mask_to_box,
    pad_box_lists,
    scale_boxes,
)
from .builtin import CROP_SOURCES, DeletionInsertion, LocalisationError, PointingGame, SaliencyMetric, default_metrics
from .deletion import DeletionInsertionResult, DeletionOptions, deletion_insertion, pixel_ranks, trapezoid_auc
from .frames import SourcePhotos, center_crop_mapping, resize_mapping, source_to_view, view_to_source
from .localisation import (
    ALPHA_GRID,
    CrossFitResult,
    alternating_folds,
    cross_fit_alpha,
    largest_component_boxes,
    mean_threshold_boxes,
)
from .pointing import PointingResult, max_points, pointing_game
from .saliency import (
    AREA_FLOOR,
    SaliencyMetricOptions,
    SaliencyMetricResult,
    crop_boxes,
    crop_source_boxes,
    saliency_metric,
)

__all__ = [
    "ALPHA_GRID",
    "AREA_FLOOR",
    "CROP_SOURCES",
    "Column",
    "DeletionInsertion",
    "DeletionOptions",
    "LocalisationError",
    "Metric",
    "MetricBatch",
    "PointingGame",
    "SaliencyMetric",
    "SaliencyMetricOptions",
    "SourcePhotos",
    "check_metrics",
    "default_metrics",
    "mean_or_none",
    "CrossFitResult",
    "alternating_folds",
    "center_crop_mapping",
    "cross_fit_alpha",
    "crop_source_boxes",
    "largest_component_boxes",
    "mean_threshold_boxes",
    "resize_mapping",
    "source_to_view",
    "view_to_source",
    "DeletionInsertionResult",
    "LocalisationResult",
    "PointingResult",
    "SaliencyMetricResult",
    "box_area",
    "box_iou",
    "check_boxes",
    "crop_boxes",
    "deletion_insertion",
    "localisation_error",
    "mask_to_box",
    "max_points",
    "pad_box_lists",
    "pixel_ranks",
    "pointing_game",
    "saliency_metric",
    "scale_boxes",
    "trapezoid_auc",
]
