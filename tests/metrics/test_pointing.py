"""The pointing game: hit when the saliency maximum lies within the tolerance of a ground-truth box."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blackbox_saliency.errors import InputError
from blackbox_saliency.metrics import max_points, pointing_game


def peak_map(h: int, w: int, i: int, j: int) -> torch.Tensor:
    sal = torch.rand(1, 1, h, w) * 0.5
    sal[0, 0, i, j] = 1.0
    return sal


def test_inside_near_and_far():
    box = torch.tensor([[20.0, 20.0, 40.0, 40.0]])
    inside = peak_map(100, 100, 30, 30)
    near = peak_map(100, 100, 30, 50)  # centre x = 50.5, 10.5 px right of the box
    far = peak_map(100, 100, 80, 80)
    result = pointing_game(torch.cat([inside, near, far]), [box] * 3)
    assert result.hits.tolist() == [True, True, False]
    assert result.accuracy == pytest.approx(2 / 3)
    assert result.points.tolist() == [[30.5, 30.5], [50.5, 30.5], [80.5, 80.5]]
    strict = pointing_game(torch.cat([inside, near, far]), [box] * 3, tolerance_px=0)
    assert strict.hits.tolist() == [True, False, False]


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 39), st.integers(0, 39), st.floats(0, 30))
def test_hit_iff_distance_to_box_within_tolerance(i, j, tolerance):
    x0, y0, x1, y1 = 12.0, 15.0, 25.0, 22.0
    sal = peak_map(40, 40, i, j)
    cx, cy = j + 0.5, i + 0.5
    dx = max(x0 - cx, 0.0, cx - x1)
    dy = max(y0 - cy, 0.0, cy - y1)
    expected = math.hypot(dx, dy) <= tolerance
    hit = pointing_game(sal, [torch.tensor([[x0, y0, x1, y1]])], tolerance_px=tolerance).hits.item()
    assert hit == expected


def test_any_of_several_boxes_counts_and_tensor_boxes_are_accepted():
    sal = peak_map(64, 64, 5, 60)
    boxes = [torch.tensor([[0.0, 30.0, 10.0, 40.0], [50.0, 0.0, 64.0, 10.0]])]
    assert pointing_game(sal, boxes, tolerance_px=0).hits.tolist() == [True]
    assert pointing_game(sal, torch.tensor([[50.0, 0.0, 64.0, 10.0]]), tolerance_px=0).hits.tolist() == [True]


def test_ties_and_any_range():
    sal = torch.zeros(1, 1, 4, 4) - 5.0  # negative values are fine (e.g. raw gradients); all tied
    assert max_points(sal).tolist() == [[0.5, 0.5]]


@pytest.mark.parametrize(
    "saliency, boxes, kwargs, fragment",
    [
        (torch.rand(1, 8, 8), [torch.ones(1, 4)], {}, "`saliency`"),
        (torch.rand(1, 2, 8, 8), [torch.ones(1, 4)], {}, "`saliency`"),
        (torch.ones(1, 1, 8, 8, dtype=torch.int64), [torch.ones(1, 4)], {}, "`saliency`"),
        (torch.full((1, 1, 8, 8), float("nan")), [torch.ones(1, 4)], {}, "`saliency`.*NaN"),
        (torch.rand(2, 1, 8, 8), [torch.ones(1, 4)], {}, "`gt_boxes`"),
        (torch.rand(1, 1, 8, 8), [torch.zeros(0, 4)], {}, r"`gt_boxes\[0\]`"),
        (torch.rand(1, 1, 8, 8), [torch.ones(1, 3)], {}, r"`gt_boxes\[0\]`"),
        (torch.rand(1, 1, 8, 8), [torch.ones(1, 4)], {"tolerance_px": -1}, "`tolerance_px`"),
    ],
)
def test_bad_input(saliency, boxes, kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        pointing_game(saliency, boxes, **kwargs)
