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


def test_relative_gate_separates_the_voted_class_from_the_others_where_the_paper_gate_saturates():
    """Two locations, each voting strongly for one class; every class score is large and positive.

    The paper's gate ``sigmoid(X . C_s)`` is ~1 at both locations for every class (no class
    selectivity); the relative gate opens only where the location votes for the selected class.
    """
    from blackbox_saliency.maskers.feature_filter import FeatureFilter

    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    features = torch.tensor([[30.0, 10.0], [10.0, 30.0]]).T.reshape(
        1, 2, 1, 2
    )  # location 0 votes class 0, location 1 class 1
    gates = {}
    for mode in ("paper", "relative"):
        layer = FeatureFilter(num_classes=3, channels=2, mode=mode)
        layer.init_from(weight)
        gates[mode] = torch.sigmoid(layer.score_map(features, torch.tensor([0]))).flatten()
    assert torch.all(gates["paper"] > 0.99)
    assert gates["relative"][0] > 0.7 and gates["relative"][1] < 1e-6


def test_relative_gate_is_uniform_for_a_uniform_vote_and_unknown_modes_are_refused():
    from blackbox_saliency.errors import InputError
    from blackbox_saliency.maskers.feature_filter import FeatureFilter

    layer = FeatureFilter(num_classes=4, channels=3, mode="relative")
    with torch.no_grad():
        layer.embedding.weight.fill_(0.25)
    scores = layer.score_map(torch.rand(2, 3, 5, 5), torch.tensor([0, 3]))
    assert torch.allclose(scores, torch.zeros_like(scores), atol=1e-5)
    with pytest.raises(InputError, match="relative"):
        FeatureFilter(num_classes=4, channels=3, mode="absolute")
