"""Grad-CAM baseline through pytorch-grad-cam (the optional extra)."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency import InputError, load_masker

pytest.importorskip("pytorch_grad_cam", reason="pytorch-grad-cam is the optional extra blackbox-saliency[baselines]")

from blackbox_saliency.baselines.gradcam import GradCamMasker, default_layer_name  # noqa: E402


def test_shape_range_device_and_no_side_effects(tiny_net):
    images = torch.rand(2, 3, 48, 40)
    masker = GradCamMasker(tiny_net, layer="features")
    masks = masker(images, torch.tensor([0, 3]))
    assert masks.shape == (2, 1, 48, 40) and masks.dtype == images.dtype and masks.device == images.device
    assert float(masks.min()) >= 0.0 and float(masks.max()) <= 1.0
    assert all(p.grad is None for p in tiny_net.parameters())
    assert all(p.requires_grad for p in tiny_net.parameters())  # restored
    assert not tiny_net.network.features._forward_hooks  # hooks released


def test_layer_names_relative_to_classifier_or_network(tiny_net):
    assert GradCamMasker(tiny_net, layer="network.features").layer_name == "network.features"
    assert GradCamMasker(tiny_net, layer="features").layer_name == "network.features"
    assert default_layer_name(tiny_net) == "network.features"  # a usual stage name, found in the network


def test_unknown_layer_is_a_clear_error(tiny_net):
    with pytest.raises(InputError, match="no layer named 'layer4'.*network.features"):
        GradCamMasker(tiny_net, layer="layer4")


def test_layer_without_a_feature_map_is_a_clear_error(tiny_net):
    masker = GradCamMasker(tiny_net, layer="fc")
    with pytest.raises(InputError, match="Grad-CAM failed on layer 'network.fc'"):
        masker(torch.rand(1, 3, 32, 32), torch.tensor([0]))


def test_real_classifier_defaults_and_class_dependence(cifar_net, cifar_images):
    images, labels = cifar_images
    masker = load_masker("gradcam", classifier=cifar_net)
    assert masker.layer_name == "network.layer3"
    own, other = masker(images, labels), masker(images, (labels + 5) % 10)
    assert own.shape == (8, 1, 32, 32)
    assert bool(((own - other).abs().mean(dim=(1, 2, 3)) > 0.01).all())


def test_efficientnet_default_layer():
    from blackbox_saliency.classifiers.efficientnet_lite import EfficientNetLite0Classifier

    net = EfficientNetLite0Classifier(pretrained=False)
    assert GradCamMasker(net).layer_name == "network.head_conv"


def test_default_layer_falls_back_to_the_last_conv():
    from torch import nn

    from blackbox_saliency.interfaces import BlackBoxClassifier

    network = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 2),
    )
    net = BlackBoxClassifier(network, (16, 16), ["a", "b"])
    assert default_layer_name(net) == "network.2"
    no_conv = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)), (16, 16), ["a", "b"])
    with pytest.raises(InputError, match="no nn.Conv2d"):
        GradCamMasker(no_conv)
