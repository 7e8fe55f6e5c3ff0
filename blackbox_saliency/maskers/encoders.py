"""Frozen multi-scale encoders for the masking model.

An encoder is a pretrained classification backbone whose intermediate feature
maps are read out with :func:`torchvision.models.feature_extraction.create_feature_extractor`
(no hand-copied forward functions), with its batch norms folded into the preceding
convolutions. It normalises its [0, 1] input itself,
never trains (all parameters ``requires_grad=False``, always in eval mode) and
returns the feature maps ordered finest -> coarsest.

Built-in names:

* ``"efficientnet_lite0"``: the EfficientNet-Lite0 black box's own network with its real
  ImageNet weights (5 scales, strides 2..32: stages.0/1/2/4 and the 1280-channel head conv).
* torchvision ResNets (``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"resnet101"``, ``"resnet152"``,
  ``"resnext50_32x4d"``, ``"wide_resnet50_2"``, ...): 5 scales (``relu``, ``layer1``..``layer4``);
  ``pretrained=True`` asks torchvision for ``weights="DEFAULT"`` (downloaded once, then cached).
* ``"cifar10_resnet20"``, ``"cifar10_resnet56"``: the CIFAR-10 ResNets (3 scales, strides 1, 2, 4).

More can be added with :func:`register_encoder`.

Example:
    >>> import torch
    >>> from blackbox_saliency.maskers.encoders import build_encoder
    >>> enc = build_encoder("resnet18", pretrained=False)
    >>> enc.channels, enc.strides
    ([64, 64, 128, 256, 512], [2, 4, 8, 16, 32])
    >>> [f.shape[-1] for f in enc(torch.rand(1, 3, 64, 64))]
    [32, 16, 8, 4, 2]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.fx.experimental.optimization import fuse
from torchvision.models.feature_extraction import create_feature_extractor

from ..errors import InputError

__all__ = ["EncoderSpec", "FrozenEncoder", "build_encoder", "register_encoder", "available_encoders"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_TORCHVISION_RESNET_PREFIXES = ("resnet", "resnext", "wide_resnet")
_RESNET_NODES = ("relu", "layer1", "layer2", "layer3", "layer4")


@dataclass
class EncoderSpec:
    """What a builder returns: a network, the node names to read (finest -> coarsest) and its normalisation.

    ``head`` is the network's own classification layer acting on the coarsest feature map after
    global average pooling (an ``nn.Linear`` with ``in_features == channels[-1]``), or ``None``.
    ``probe_size`` is the square input size used once to measure channels and strides.
    """

    network: nn.Module
    return_nodes: Sequence[str]
    mean: Sequence[float]
    std: Sequence[float]
    head: nn.Linear | None = None
    probe_size: int = 64


EncoderBuilder = Callable[[bool], EncoderSpec]
_BUILDERS: dict[str, EncoderBuilder] = {}


def register_encoder(name: str, builder: EncoderBuilder) -> None:
    """Register ``builder(pretrained: bool) -> EncoderSpec`` under ``name`` (overwrites an existing name)."""
    _BUILDERS[name] = builder


def _torchvision_resnet_names() -> list[str]:
    import torchvision.models

    return sorted(n for n in torchvision.models.list_models(module=torchvision.models) if n.startswith(_TORCHVISION_RESNET_PREFIXES))


def available_encoders() -> list[str]:
    """Names accepted by :func:`build_encoder`."""
    return sorted(set(_BUILDERS) | set(_torchvision_resnet_names()))


def _torchvision_resnet(name: str, pretrained: bool) -> EncoderSpec:
    import torchvision.models

    network = torchvision.models.get_model(name, weights="DEFAULT" if pretrained else None)
    return EncoderSpec(network, _RESNET_NODES, IMAGENET_MEAN, IMAGENET_STD, head=network.fc, probe_size=64)


def _classifier_spec(classifier: nn.Module, return_nodes: Sequence[str], head: nn.Linear | None, probe_size: int) -> EncoderSpec:
    mean = classifier.mean.flatten().tolist()
    std = classifier.std.flatten().tolist()
    return EncoderSpec(classifier.network, return_nodes, mean, std, head=head, probe_size=probe_size)


def _efficientnet_lite0(pretrained: bool) -> EncoderSpec:
    from ..classifiers import efficientnet_lite as module

    classifier = module.EfficientNetLite0Classifier(pretrained=pretrained)
    # strides 2, 4, 8, 16 from the classifier's own node table; stride 32 is the 1280-channel head conv
    # (not stages.6 with 320 channels) so that the class embedding can start from the 1280->1000 head.
    nodes = [module.FEATURE_NODES[s][0] for s in (2, 4, 8, 16)] + ["head_conv"]
    return _classifier_spec(classifier, nodes, classifier.head, probe_size=64)


def _cifar_resnet(depth: int) -> EncoderBuilder:
    def build(pretrained: bool) -> EncoderSpec:
        from ..classifiers import cifar_resnet as module

        classifier = module.CifarResNetClassifier(depth=depth, pretrained=pretrained)
        nodes = [module.FEATURE_NODES[s][0] for s in sorted(module.FEATURE_NODES)]  # layer1..layer3, strides 1, 2, 4
        return _classifier_spec(classifier, nodes, classifier.head, probe_size=32)

    return build


register_encoder("efficientnet_lite0", _efficientnet_lite0)
register_encoder("cifar10_resnet20", _cifar_resnet(20))
register_encoder("cifar10_resnet56", _cifar_resnet(56))


class FrozenEncoder(nn.Module):
    """A frozen backbone returning feature maps finest -> coarsest for [0, 1] images.

    Attributes:
        name: the encoder's registry name.
        channels: channels of each returned feature map.
        strides: input pixels per feature-map pixel, for each returned map.
        head_weight: the backbone's own classifier weight ``(num_classes, channels[-1])`` or ``None``.
    """

    def __init__(self, name: str, spec: EncoderSpec) -> None:
        super().__init__()
        self.name = name
        nodes = list(spec.return_nodes)
        body = create_feature_extractor(spec.network, return_nodes={node: f"scale{i}" for i, node in enumerate(nodes)}).eval()
        # The encoder never trains, so each Conv2d -> BatchNorm2d pair is folded into one convolution
        # (same function up to float rounding, ~10% faster on a CPU).
        self.body = fuse(body, inplace=True)
        self._keys = [f"scale{i}" for i in range(len(nodes))]
        self.register_buffer("mean", torch.tensor(list(spec.mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(spec.std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.train(False)
        with torch.no_grad():
            probe = self(torch.zeros(1, 3, spec.probe_size, spec.probe_size))
        self.channels = [int(f.shape[1]) for f in probe]
        self.strides = [int(round(spec.probe_size / f.shape[-1])) for f in probe]
        head = spec.head
        self.head_weight: torch.Tensor | None = None
        self.head_bias: torch.Tensor | None = None
        if head is not None and head.weight.shape[1] == self.channels[-1]:
            self.head_weight = head.weight.detach().clone()
            self.head_bias = None if head.bias is None else head.bias.detach().clone()

    def train(self, mode: bool = True) -> FrozenEncoder:
        """Stay in eval mode whatever the parent asks (batch-norm statistics never change)."""
        return super().train(False)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Return the feature maps of ``images`` (B, 3, H, W) in [0, 1], finest -> coarsest."""
        out = self.body(self.normalise(images))
        return [out[k] for k in self._keys]


def build_encoder(name: str, pretrained: bool = True) -> FrozenEncoder:
    """Build the frozen encoder registered as ``name`` (see the module docstring for the names)."""
    if name in _BUILDERS:
        spec = _BUILDERS[name](pretrained)
    elif name in _torchvision_resnet_names():
        spec = _torchvision_resnet(name, pretrained)
    else:
        raise InputError(f"unknown encoder {name!r}; choose one of {available_encoders()} (or register one with register_encoder).")
    return FrozenEncoder(name, spec)
