"""The class-selective feature filter Y = X * sigmoid(X . C_s)."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers.feature_filter import FeatureFilter


def test_filter_matches_the_formula_elementwise():
    f = FeatureFilter(num_classes=5, channels=6)
    x = torch.randn(2, 6, 3, 4)
    classes = torch.tensor([4, 1])
    y, scores = f(x, classes)
    for b in range(2):
        c = f.embedding.weight[classes[b]]
        for i in range(3):
            for j in range(4):
                dot = torch.dot(x[b, :, i, j], c)
                torch.testing.assert_close(y[b, :, i, j], x[b, :, i, j] * torch.sigmoid(dot))
        expected = max(torch.dot(x[b, :, i, j], c) for i in range(3) for j in range(4))
        torch.testing.assert_close(scores[b], expected)


def test_init_from_copies_a_head_and_checks_its_shape():
    f = FeatureFilter(num_classes=3, channels=4)
    head = torch.arange(12.0).view(3, 4)
    f.init_from(head, scale=0.5)
    torch.testing.assert_close(f.embedding.weight.detach(), head * 0.5)
    with pytest.raises(InputError, match=r"\(3, 4\)"):
        f.init_from(torch.zeros(4, 3))


def test_scores_are_differentiable_in_the_embedding():
    f = FeatureFilter(num_classes=3, channels=4)
    _, scores = f(torch.randn(2, 4, 2, 2), torch.tensor([0, 2]))
    scores.sum().backward()
    grad = f.embedding.weight.grad
    assert grad[0].abs().sum() > 0 and grad[2].abs().sum() > 0
    assert torch.equal(grad[1], torch.zeros(4))  # an unselected class gets no gradient
