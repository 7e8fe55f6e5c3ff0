"""Frozen multi-scale encoders."""

from __future__ import annotations

import pytest
import torch
import torchvision

from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers.encoders import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EncoderSpec,
    available_encoders,
    build_encoder,
    register_encoder,
)


def test_torchvision_resnet_scales_and_shapes():
    enc = build_encoder("resnet18", pretrained=False)
    assert enc.channels == [64, 64, 128, 256, 512]
    assert enc.strides == [2, 4, 8, 16, 32]
    feats = enc(torch.rand(2, 3, 97, 131))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 49, 66), (64, 25, 33), (128, 13, 17), (256, 7, 9), (512, 4, 5)]
    assert enc.head_weight is not None and enc.head_weight.shape == (1000, 512)


def test_encoder_is_frozen_and_stays_in_eval_mode():
    enc = build_encoder("resnet18", pretrained=False)
    assert all(not p.requires_grad for p in enc.parameters())
    x = torch.rand(2, 3, 64, 64)
    before = enc(x)[-1]
    enc.train()
    assert not enc.training and not any(m.training for m in enc.modules())
    enc(torch.rand(4, 3, 64, 64) * 3)  # in train mode batch norm would update its statistics here
    assert torch.equal(enc(x)[-1], before)


def test_features_equal_the_backbone_layers_on_normalised_input():
    """Batch norms are folded into the convolutions: same features as the unfused network."""
    net = torchvision.models.resnet18().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics so that folding matters
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    register_encoder(
        "_test_resnet18",
        lambda pretrained: EncoderSpec(
            net, ("relu", "layer1", "layer2", "layer3", "layer4"), IMAGENET_MEAN, IMAGENET_STD, head=net.fc
        ),
    )
    enc = build_encoder("_test_resnet18")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules())
    x = torch.rand(2, 3, 64, 96)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        h = net.relu(net.bn1(net.conv1((x - mean) / std)))
        expected = [h]
        h = net.maxpool(h)
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            h = layer(h)
            expected.append(h)
        for got, want in zip(enc(x), expected):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    # the network handed in keeps its batch norms (folding works on the encoder's own copy)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    torch.testing.assert_close(enc.head_weight, net.fc.weight)


def test_efficientnet_lite0_coarsest_scale_feeds_its_own_head():
    """With the real weights, pooling the coarsest map through the head gives the black box's logits."""
    from blackbox_saliency.classifiers.efficientnet_lite import EfficientNetLite0Classifier

    enc = build_encoder("efficientnet_lite0", pretrained=True)
    assert enc.channels == [16, 24, 40, 112, 1280] and enc.strides == [2, 4, 8, 16, 32]
    box = EfficientNetLite0Classifier(pretrained=True)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        coarsest = enc(x)[-1]
        logits = coarsest.mean(dim=(2, 3)) @ box.head.weight.T + box.head.bias
        torch.testing.assert_close(logits, box(x), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(enc.head_weight, box.head.weight)
    # the encoder owns a copy: it never shares parameters with a black-box instance
    assert not {p.data_ptr() for p in enc.parameters()} & {p.data_ptr() for p in box.parameters()}


def test_cifar_resnet20_scales():
    enc = build_encoder("cifar10_resnet20", pretrained=False)
    assert enc.channels == [16, 32, 64] and enc.strides == [1, 2, 4]
    assert enc.head_weight.shape == (10, 64)
    assert [f.shape[-1] for f in enc(torch.rand(3, 3, 32, 32))] == [32, 16, 8]


def test_cifar_resnet20_real_weights_feed_the_head(data_dir):
    from blackbox_saliency.classifiers.cifar_resnet import CifarResNetClassifier

    enc = build_encoder("cifar10_resnet20", pretrained=True)
    box = CifarResNetClassifier(depth=20, pretrained=True)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        logits = enc(x)[-1].mean(dim=(2, 3)) @ box.head.weight.T + box.head.bias
        torch.testing.assert_close(logits, box(x), atol=1e-4, rtol=1e-4)


def test_unknown_encoder_lists_the_names():
    assert {"resnet18", "resnet50", "efficientnet_lite0", "cifar10_resnet20"} <= set(available_encoders())
    with pytest.raises(InputError, match="resnet18"):
        build_encoder("alexnet_but_not_really")
