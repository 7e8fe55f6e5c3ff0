"""Validation helpers: the central-box baseline and the metric pass."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.baselines.boxes import CenterBoxMasker
from blackbox_saliency.metrics import saliency_metric
from blackbox_saliency.training.evaluation import CENTRAL_BOX, evaluate_masks


def test_central_box_covers_half_the_image_in_the_middle():
    masks = CENTRAL_BOX(torch.rand(2, 3, 40, 60), torch.tensor([0, 1]))
    assert masks.shape == (2, 1, 40, 60)
    assert abs(float(masks.mean()) - 0.5) < 0.02
    rows, cols = masks[0, 0].nonzero().unbind(1)
    assert rows.min() + rows.max() == 39 and cols.min() + cols.max() == 59  # centred


# (height, width) -> (top, left, box height, box width) of the trainer's former central_box_masks:
# sides round(side * sqrt(0.5)) (at least 1), offsets (side - box) // 2
_FORMER_BOXES = {(1, 1): (0, 0, 1, 1), (2, 3): (0, 0, 1, 2), (7, 5): (1, 0, 5, 4), (32, 32): (4, 4, 23, 23), (40, 60): (6, 9, 28, 42),
                 (224, 224): (33, 33, 158, 158), (225, 161): (33, 23, 159, 114), (13, 300): (2, 44, 9, 212)}


@pytest.mark.parametrize("size", sorted(_FORMER_BOXES))
def test_validation_baseline_is_the_center_baseline_and_the_former_box(size):
    """The trainer validates against evaluate's ``center`` masker; its masks are those of the box the trainer drew before."""
    images = torch.rand(2, 3, *size)
    masks = CENTRAL_BOX(images, torch.tensor([0, 1]))
    assert isinstance(CENTRAL_BOX, CenterBoxMasker) and CENTRAL_BOX.area_fraction == 0.5
    top, left, height, width = _FORMER_BOXES[size]
    expected = torch.zeros(2, 1, *size)
    expected[:, :, top : top + height, left : left + width] = 1.0
    assert masks.dtype == images.dtype and torch.equal(masks, expected)


def test_evaluate_masks_matches_the_metric_on_the_whole_set(toy_blackbox, squares_dataset, squares):
    data = squares_dataset(20, seed=3)

    class Oracle(torch.nn.Module):  # masks = the true squares (a Masker without forward_train)
        def forward(self, images, classes):
            assert images.shape[0] == 20
            return data.where

    oracle = Oracle()
    result = evaluate_masks(oracle, toy_blackbox, data, lambda x, y: y, torch.device("cpu"), batch_size=20, with_baseline=True)
    direct = saliency_metric(toy_blackbox, data.images, data.where, torch.as_tensor(data.labels))
    assert abs(result["saliency_metric"] - direct.mean) < 1e-5 and result["n"] == 20
    assert result["saliency_metric"] < result["baseline_saliency_metric"]  # the true square beats the central box
