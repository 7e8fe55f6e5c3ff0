"""The crop-preserve term: soft boxes from mask moments, differentiable crops, and the metric it mirrors."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from blackbox_saliency.interfaces import BlackBoxClassifier
from blackbox_saliency.metrics.saliency import crop_boxes
from blackbox_saliency.objective import ObjectiveTerms, SaliencyObjective
from blackbox_saliency.objective.crop_preserve import crop_soft_boxes, soft_boxes

mask_arrays = st.tuples(st.integers(1, 3), st.integers(2, 9), st.integers(2, 9)).flatmap(
    lambda s: arrays(np.float32, (s[0], 1, s[1], s[2]), elements=st.floats(0, 1, width=32))
)


@settings(max_examples=40, deadline=None)
@given(st.integers(8, 20), st.integers(8, 20), st.data())
def test_soft_box_of_a_filled_rectangle_is_that_rectangle(height, width, data):
    x0 = data.draw(st.integers(0, width - 1))
    x1 = data.draw(st.integers(x0 + 1, width))
    y0 = data.draw(st.integers(0, height - 1))
    y1 = data.draw(st.integers(y0 + 1, height))
    mask = torch.zeros(1, 1, height, width)
    mask[..., y0:y1, x0:x1] = 1
    cx, cy, w, h = soft_boxes(mask)[0].tolist()
    assert math.isclose(w, (x1 - x0) / width, abs_tol=1e-5) and math.isclose(h, (y1 - y0) / height, abs_tol=1e-5)
    assert math.isclose(cx, (x0 + x1) / 2 / width, abs_tol=1e-5) and math.isclose(cy, (y0 + y1) / 2 / height,
                                                                                  abs_tol=1e-5)


@settings(max_examples=40, deadline=None)
@given(mask_arrays)
def test_soft_boxes_lie_inside_the_image(m):
    boxes = soft_boxes(torch.from_numpy(m) + 1e-3)
    cx, cy, w, h = boxes.unbind(1)
    assert bool(((w > 0) & (w <= 1) & (h > 0) & (h <= 1)).all())
    inside_x = (cx - w / 2 >= -1e-5) & (cx + w / 2 <= 1 + 1e-5)
    assert bool((inside_x & (cy - h / 2 >= -1e-5) & (cy + h / 2 <= 1 + 1e-5)).all())


def test_soft_crop_matches_the_metric_crop_for_a_box_of_whole_pixels():
    images = torch.rand(1, 3, 32, 32)
    crops = crop_soft_boxes(images, torch.tensor([[0.5, 0.25, 0.5, 0.5]]), (16, 16))  # x 8..24, y 0..16
    expected = crop_boxes(images, torch.tensor([[8.0, 0.0, 24.0, 16.0]]), (16, 16))
    torch.testing.assert_close(crops, expected, atol=1e-5, rtol=1e-5)


def _net() -> BlackBoxClassifier:
    torch.manual_seed(1)
    return BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), (8, 8), list("abcd")).eval()


def test_crop_term_is_the_metric_on_the_soft_box_and_joins_the_total():
    net = _net()
    images, masks, classes = torch.rand(2, 3, 16, 16), torch.zeros(2, 1, 8, 8), torch.tensor([1, 3])
    masks[0, :, 2:6, 2:6] = 1
    masks[1, :, :, :4] = 1
    objective = SaliencyObjective(net, crop_coef=2.0)
    terms = objective(images, masks, classes, alternative=torch.rand(2, 3, 16, 16))
    boxes = soft_boxes(masks)
    log_p = F.log_softmax(net(crop_soft_boxes(images, boxes, (16, 16))), dim=1).gather(1,
                                                                                       classes.view(-1, 1)).squeeze(1)
    expected = 2.0 * ((boxes[:, 2] * boxes[:, 3]).clamp_min(0.05).log() - log_p)
    torch.testing.assert_close(terms.crop, expected)
    torch.testing.assert_close(terms.total, terms.tv + terms.area + terms.preserve + terms.destroy + terms.crop)
    assert "crop" in ObjectiveTerms.names()


def test_crop_term_is_off_by_default_and_gives_the_mask_gradients():
    net = _net()
    images, classes = torch.rand(2, 3, 16, 16), torch.tensor([0, 2])
    off = SaliencyObjective(net)(images, torch.rand(2, 1, 8, 8), classes, alternative=torch.rand(2, 3, 16, 16))
    assert bool((off.crop == 0).all())
    masks = torch.rand(2, 1, 8, 8, requires_grad=True)
    fake = torch.tensor([False, True])
    terms = SaliencyObjective(net, tv_coef=0, area_coef=0, destroy_coef=0, crop_coef=1.0)(images, masks, classes,
                                                                                          fake=fake)
    assert float(terms.crop[1].detach()) == 0.0  # fake selectors get the area term alone
    terms.crop.sum().backward()
    assert masks.grad is not None and float(masks.grad[0].abs().sum()) > 0 and float(masks.grad[1].abs().sum()) == 0
