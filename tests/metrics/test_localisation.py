"""Localisation protocols of the papers: alpha * mean boxes, CASM's largest component, alpha cross-fitting without
leaks."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.errors import InputError
from blackbox_saliency.metrics.localisation import (
    ALPHA_GRID,
    alternating_folds,
    cross_fit_alpha,
    largest_component_boxes,
    mean_threshold_boxes,
)


def test_alpha_grid_is_zero_to_ten_in_halves():
    assert ALPHA_GRID[0] == 0.0 and ALPHA_GRID[-1] == 10.0 and len(ALPHA_GRID) == 21


def test_mean_threshold_boxes_shrink_as_alpha_grows():
    mask = torch.zeros(1, 1, 10, 10)
    mask[0, 0, 2:8, 2:8] = 0.3
    mask[0, 0, 4:6, 4:6] = 1.0  # mean = (32 * 0.3 + 4 * 1.0) / 100 = 0.136
    boxes = mean_threshold_boxes(mask, alphas=(0.0, 1.0, 3.0, 10.0))
    # alpha 0: every non-zero pixel; 10: nothing above 1.36, so the one-pixel box at the first maximum
    assert boxes[0].tolist() == [[2.0, 2.0, 8.0, 8.0], [2.0, 2.0, 8.0, 8.0], [4.0, 4.0, 6.0, 6.0], [4.0, 4.0, 5.0, 5.0]]


def test_largest_component_ignores_a_smaller_blob_and_a_constant_mask_is_everything():
    mask = torch.zeros(2, 1, 12, 12)
    mask[0, 0, 0:2, 0:2] = 1.0  # 4 pixels
    mask[0, 0, 5:10, 6:9] = 1.0  # 15 pixels: the largest
    mask[1] = 0.7
    assert largest_component_boxes(mask).tolist() == [[6.0, 5.0, 9.0, 10.0], [0.0, 0.0, 12.0, 12.0]]


def test_diagonal_pixels_are_separate_components():
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 0, 0] = mask[0, 0, 1, 1] = 1.0
    mask[0, 0, 3, 2:4] = 1.0
    assert largest_component_boxes(mask).tolist() == [[2.0, 3.0, 4.0, 4.0]]


def test_each_fold_is_scored_with_an_alpha_tuned_on_the_other_folds_only():
    torch.manual_seed(0)
    hits = torch.rand(40, len(ALPHA_GRID)) > 0.5
    folds = alternating_folds(40)
    result = cross_fit_alpha(hits, folds)
    for fold, tuned_on in result.tuned_on.items():
        reported = [i for i, f in enumerate(folds) if f == fold]
        assert not set(tuned_on) & set(reported)
        assert set(tuned_on) | set(reported) == set(range(40))
    # what a fold's own images say must not move its alpha: make every fold-0 image a hit at alpha index 7 only
    rigged = hits.clone()
    rigged[torch.tensor(folds) == 0] = False
    rigged[torch.tensor(folds) == 0, 7] = True
    again = cross_fit_alpha(rigged, folds)
    assert again.alphas[0] == result.alphas[0]
    assert float(again.miss[torch.tensor(folds) == 0].float().mean()) == (
        0.0 if result.alphas[0] == ALPHA_GRID[7] else 1.0
    )


def test_cross_fit_needs_two_folds_and_matching_shapes():
    with pytest.raises(InputError, match="at least two folds"):
        cross_fit_alpha(torch.ones(3, 2, dtype=torch.bool), [0, 0, 0], alphas=(1.0, 2.0))
    with pytest.raises(InputError, match="alphas"):
        cross_fit_alpha(torch.ones(3, 2, dtype=torch.bool), [0, 1, 0])
    with pytest.raises(InputError, match="2 folds"):
        alternating_folds(4, folds=1)
