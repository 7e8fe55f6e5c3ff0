"""Vanilla gradient baseline (Captum's Saliency when installed, built-in torch fallback)."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency import InputError, load_masker
from blackbox_saliency.baselines.gradient import GradientMasker


def test_shape_range_device(tiny_net):
    images = torch.rand(3, 3, 40, 40)
    masks = GradientMasker(tiny_net, backend="torch")(images, torch.tensor([0, 1, 4]))
    assert masks.shape == (3, 1, 40, 40) and masks.dtype == images.dtype and masks.device == images.device
    assert float(masks.amin()) == 0.0 and float(masks.amax(dim=(1, 2, 3)).min()) == 1.0  # scaled per image


def test_is_the_input_gradient_of_the_class_logit(tiny_net):
    images = torch.rand(2, 3, 32, 32)
    classes = torch.tensor([2, 3])
    x = images.clone().requires_grad_(True)
    tiny_net(x).gather(1, classes.view(-1, 1)).sum().backward()
    expected = x.grad.abs().amax(dim=1, keepdim=True)
    expected = (expected - expected.amin(dim=(2, 3), keepdim=True)) / (
        expected.amax(dim=(2, 3), keepdim=True) - expected.amin(dim=(2, 3), keepdim=True)
    )
    torch.testing.assert_close(GradientMasker(tiny_net, backend="torch")(images, classes), expected)


def test_leaves_parameter_gradients_alone(tiny_net):
    GradientMasker(tiny_net, backend="torch")(torch.rand(1, 3, 32, 32), torch.tensor([0]))
    assert all(p.grad is None for p in tiny_net.parameters())


def test_captum_backend_matches_the_builtin_one(tiny_net):
    pytest.importorskip("captum", reason="Captum is the optional extra blackbox-saliency[baselines]")
    images, classes = torch.rand(2, 3, 32, 32), torch.tensor([1, 3])
    ours = GradientMasker(tiny_net, backend="torch")(images, classes)
    theirs = GradientMasker(tiny_net, backend="captum")(images, classes)
    torch.testing.assert_close(ours, theirs)
    assert GradientMasker(tiny_net).backend == "captum"  # auto picks Captum when installed


def test_maps_differ_by_class_on_real_images(cifar_net, cifar_images):
    images, labels = cifar_images
    masker = load_masker("gradient", classifier=cifar_net)
    own = masker(images, labels)
    other = masker(images, (labels + 5) % 10)
    assert own.shape == (8, 1, 32, 32)
    # different classes give different maps (not just a rescaling of one map)
    difference = (own - other).abs().mean(dim=(1, 2, 3))
    assert bool((difference > 0.01).all()), difference


def test_bad_input(tiny_net):
    with pytest.raises(InputError, match="backend"):
        GradientMasker(tiny_net, backend="jax")
    with pytest.raises(InputError, match="needs the black box"):
        load_masker("gradient")
    with pytest.raises(InputError, match="out of range"):
        GradientMasker(tiny_net, backend="torch").explain(torch.rand(1, 3, 32, 32), torch.tensor([7]))
