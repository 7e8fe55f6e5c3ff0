"""The 'cam' baseline: class activation maps of a classifier that declares its pooled layer and head."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from blackbox_saliency import InputError, load_masker
from blackbox_saliency.baselines.cam import CamMasker, class_activation_maps, normalise_cam
from blackbox_saliency.interfaces import BlackBoxClassifier

from .conftest import TinyConvNet


class TinyCamNet(TinyConvNet):
    cam_layers = ("network.features", "network.fc")


def test_equals_head_weights_times_the_pooled_map():
    net = TinyCamNet()
    images, classes = torch.rand(3, 3, 32, 32), torch.tensor([0, 2, 4])
    features = net.network.features(net.network.act(net.network.conv(net.preprocess(images))))
    expected = torch.einsum("bchw,bc->bhw", features, net.network.fc.weight[classes]).relu().unsqueeze(1)
    expected = expected / expected.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    expected = F.interpolate(expected, size=(32, 32), mode="bilinear", align_corners=False)
    masks = CamMasker(net)(images, classes)
    assert masks.shape == (3, 1, 32, 32)
    torch.testing.assert_close(masks, expected.clamp(0, 1), atol=1e-5, rtol=1e-5)
    # the logits really are the head over the pooled map, so the map explains them
    logits = net.network.fc(features.mean(dim=(2, 3)))
    torch.testing.assert_close(logits, net(images))


def test_one_forward_no_gradients_hook_released():
    net = TinyCamNet()
    calls = []
    net.network.fc.register_forward_hook(lambda *args: calls.append(1))
    masker = CamMasker(net)
    masks = masker(torch.rand(2, 3, 40, 48), torch.tensor([1, 3]))
    assert len(calls) == 1 and not masks.requires_grad
    assert masks.shape == (2, 1, 40, 48) and float(masks.min()) >= 0 and float(masks.max()) <= 1
    assert not net.network.features._forward_hooks
    assert all(p.grad is None for p in net.parameters())


def test_normalise_all_dims_classes_the_network_does_not_see():
    features = torch.zeros(1, 2, 2, 2)
    features[0, 0] = 4.0
    features[0, 1, 0, 0] = 1.0
    weight = torch.eye(2)
    maps, strongest = class_activation_maps(features, weight, torch.tensor([1]))
    assert float(strongest) == 4.0
    assert float(normalise_cam(maps).max()) == 1.0
    assert float(normalise_cam(maps, strongest).max()) == 0.25
    net = TinyCamNet()
    own = CamMasker(net, normalise="class")(torch.rand(2, 3, 32, 32), torch.tensor([0, 1]))
    every = CamMasker(net, normalise="all")(torch.rand(2, 3, 32, 32), torch.tensor([0, 1]))
    assert float(every.amax()) <= float(own.amax()) + 1e-6


def test_classifier_without_cam_layers_is_refused_with_a_way_out(tiny_net):
    with pytest.raises(InputError, match="declares no `cam_layers`.*gradcam"):
        CamMasker(tiny_net)


def test_wrong_declarations_are_clear_errors():
    class BadPath(TinyConvNet):
        cam_layers = ("network.nope", "network.fc")

    class NotLinear(TinyConvNet):
        cam_layers = ("network.features", "network.conv")

    with pytest.raises(InputError, match="no module of that path"):
        CamMasker(BadPath())
    with pytest.raises(InputError, match="must be an nn.Linear"):
        CamMasker(NotLinear())
    with pytest.raises(InputError, match="normalise"):
        CamMasker(TinyCamNet(), normalise="max")


def test_declared_by_the_built_in_classifiers():
    from blackbox_saliency.classifiers.cifar_resnet import CifarResNetClassifier
    from blackbox_saliency.classifiers.efficientnet_lite import EfficientNetLite0Classifier
    from blackbox_saliency.classifiers.torchvision_models import TorchvisionClassifier

    assert EfficientNetLite0Classifier.cam_layers == ("network.head_conv", "network.fc")
    assert CifarResNetClassifier.cam_layers == ("network.layer3", "network.linear")
    assert TorchvisionClassifier("resnet18").cam_layers == ("network.layer4", "network.fc")
    assert TorchvisionClassifier("mobilenet_v3_small").cam_layers is None  # a hidden layer after pooling: no CAM
    assert BlackBoxClassifier.cam_layers is None


def test_real_classifier_by_name_is_class_dependent(cifar_net, cifar_images):
    images, labels = cifar_images
    masker = load_masker("cam", classifier=cifar_net)
    own, other = masker(images, labels), masker(images, (labels + 5) % 10)
    assert own.shape == (8, 1, 32, 32)
    assert bool(((own - other).abs().mean(dim=(1, 2, 3)) > 0.01).all())
