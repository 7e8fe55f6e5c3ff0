"""The built-in Metric objects on synthetic batches: what they accumulate, summarise and note."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from blackbox_saliency.errors import InputError
from blackbox_saliency.interfaces import BlackBoxClassifier
from blackbox_saliency.metrics import (
    Column,
    DeletionInsertion,
    LocalisationError,
    MetricBatch,
    PointingGame,
    SaliencyMetric,
    SourcePhotos,
    default_metrics,
    saliency_metric,
)


def random_net() -> BlackBoxClassifier:
    torch.manual_seed(0)
    return BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4)), (16, 16), list("abcd")).eval()


def box_masks(count: int) -> torch.Tensor:
    masks = torch.zeros(count, 1, 16, 16)
    masks[..., 4:12, 2:10] = 1.0  # the box (2, 4, 10, 12)
    return masks


def batch_of(count: int, **extra) -> MetricBatch:
    images = torch.rand(count, 3, 16, 16)
    return MetricBatch(random_net(), images, torch.arange(count) % 4, box_masks(count), **extra)


class Facts:
    def __init__(self, sources: bool) -> None:
        self.has_sources, self.has_boxes, self.has_labels = sources, True, True


def test_saliency_metric_object_matches_the_function_under_both_protocols():
    metric = SaliencyMetric()
    assert metric.setup(Facts(sources=True))["crop_from"] == "source"
    batch = batch_of(3, sources=SourcePhotos([torch.rand(3, 32, 24) for _ in range(3)]))
    metric.update(batch)
    view = saliency_metric(batch.classifier, batch.images, batch.masks, batch.classes)
    source = saliency_metric(batch.classifier, batch.images, batch.masks, batch.classes, sources=batch.sources)
    summary = metric.summary()
    assert summary["view_saliency"] == pytest.approx(view.mean) and summary["source_saliency"] == pytest.approx(
        source.mean
    )
    assert summary["saliency"] == summary["source_saliency"]
    assert summary["view_log_area"] == pytest.approx(math.log(64 / 256))
    assert metric.per_image()["view_s"] == pytest.approx(view.s.tolist())
    metric.reset()
    assert metric.summary()["saliency"] is None
    with pytest.raises(InputError, match="original photos"):
        SaliencyMetric(crop_from="source").setup(Facts(sources=False))


def test_localisation_and_pointing_on_known_boxes():
    truth = [torch.tensor([[2.0, 4.0, 10.0, 12.0]]), torch.tensor([[12.0, 12.0, 16.0, 16.0]])]
    localisation, pointing = LocalisationError(), PointingGame(tolerance_px=0)
    for metric in (localisation, pointing):
        metric.update(batch_of(2, boxes=truth))
    assert localisation.per_image()["loc_miss"] == [False, True]
    assert localisation.summary()["loc_error"] == 0.5 and localisation.summary()["loc_error_casm"] == 0.5
    assert len(localisation.summary()["paper_alphas"]) == 2  # one alpha per fold: two images, two folds
    assert pointing.summary() == {"pointing": 0.5}
    no_boxes = PointingGame()
    no_boxes.update(batch_of(2))
    assert no_boxes.summary() == {"pointing": None}


def test_deletion_insertion_on_an_evenly_spaced_subset_and_its_note():
    metric = DeletionInsertion(steps=2, limit=2)
    for _ in range(3):  # three batches of two of the method's six images: curves on images 0 and 3
        metric.update(batch_of(2, method_images=6))
    assert metric.summary()["deletion_images"] == 2 and len(metric.per_image()["insertion"]) == 2
    assert metric.notes("center") == [
        "`center`: deletion/insertion curves on 2 of its 6 images (evenly spaced subset, for cost)."
    ]
    skipped = DeletionInsertion(steps=0)
    skipped.update(batch_of(2))
    assert skipped.summary() == {
        "deletion_auc": None,
        "insertion_auc": None,
        "deletion_images": 0,
    } and not skipped.notes("x")


def test_columns_and_legends_of_the_default_metrics():
    metrics = default_metrics()
    titles = [column.title for metric in metrics for column in metric.columns]
    assert titles[0] == "saliency, source crop ↓" and titles[-1] == "insertion AUC ↑"
    assert all(metric.legend for metric in metrics)
    with pytest.raises(InputError, match="direction"):
        Column("x", "x", direction="up")
