"""Validation helpers: the central-box baseline and the metric pass."""

from __future__ import annotations

import torch

from blackbox_saliency.metrics import saliency_metric
from blackbox_saliency.training.evaluation import central_box_masks, evaluate_masks


def test_central_box_covers_half_the_image_in_the_middle():
    masks = central_box_masks(torch.rand(2, 3, 40, 60))
    assert masks.shape == (2, 1, 40, 60)
    assert abs(float(masks.mean()) - 0.5) < 0.02
    rows, cols = masks[0, 0].nonzero().unbind(1)
    assert rows.min() + rows.max() == 39 and cols.min() + cols.max() == 59  # centred


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
