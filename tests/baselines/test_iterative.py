"""The iterative baseline: per-image optimisation of the saliency objective."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from blackbox_saliency import InputError, load_evidence_remover
from blackbox_saliency.baselines.iterative import IterativeMasker, default_resolution
from blackbox_saliency.objective import SaliencyObjective


def test_shape_range_device_and_history(tiny_net):
    masker = IterativeMasker(tiny_net, steps=4, resolution=6)
    images = torch.rand(3, 3, 32, 32)
    masks = masker(images, torch.tensor([0, 1, 2]))
    assert masks.shape == (3, 1, 32, 32) and masks.device == images.device and masks.dtype == images.dtype
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1
    assert masker.last_history.shape == (4, 3)
    assert all(p.grad is None for p in tiny_net.parameters())


def test_reproducible_with_the_same_seed(tiny_net):
    images, classes = torch.rand(2, 3, 32, 32), torch.tensor([0, 4])
    a = IterativeMasker(tiny_net, steps=3, seed=5).optimise(images, classes).masks
    b = IterativeMasker(tiny_net, steps=3, seed=5).optimise(images, classes).masks
    assert torch.equal(a, b)


def test_default_resolution():
    assert default_resolution(224, 224) == 28 and default_resolution(32, 32) == 8 and default_resolution(3, 9) == 1


def test_bad_options(tiny_net):
    for kwargs, word in (
        ({"steps": 0}, "steps"),
        ({"init": 1.0}, "init"),
        ({"lr": 0}, "lr"),
        ({"resolution": 0}, "resolution"),
    ):
        with pytest.raises(InputError, match=word):
            IterativeMasker(tiny_net, **kwargs)


def test_reduces_the_objective_on_a_real_photo(chelsea, cifar_net):
    # the real cat photo squashed to CIFAR size, explained for the real ResNet-20's own decision
    image = F.interpolate(chelsea, size=(32, 32), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    with torch.no_grad():
        cls = cifar_net(image).argmax(1)
    # a deterministic remover, so that the objective of the start and end masks is compared exactly
    masker = IterativeMasker(cifar_net, steps=15, remover="blur")
    result = masker.optimise(image, cls)
    objective = SaliencyObjective(cifar_net, remover=load_evidence_remover("blur"))
    with torch.no_grad():
        start = objective(image, torch.full_like(result.masks, masker.init), cls).total
        end = objective(image, result.masks, cls).total
    assert float(end) < float(start) - 0.1, (float(start), float(end))
    assert float(result.history[-1, 0]) < float(result.history[0, 0])
    assert float(result.masks.mean()) < masker.init  # the area term shrinks the mask
