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

Encoders are plugins like classifiers and maskers: the built-ins above come from the built-in plugin
:mod:`blackbox_saliency.maskers.plugin`, a plugin package adds more through the hook
``blackbox_saliency_encoders`` (``{name: builder}``, ``builder(pretrained=bool) -> EncoderSpec``),
and :func:`register_encoder` registers one at run time; ``blackbox-saliency plugins`` lists them all.

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

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.fx.experimental.optimization import fuse
from torchvision.models.feature_extraction import create_feature_extractor

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..errors import InputError, PluginError
from ..plugins.hookspecs import hookimpl

__all__ = [
    "EncoderSpec",
    "FrozenEncoder",
    "build_encoder",
    "builtin_encoders",
    "register_encoder",
    "available_encoders",
]

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


EncoderBuilder = Callable[..., EncoderSpec]
"""``builder(pretrained=bool) -> EncoderSpec``: what the ``blackbox_saliency_encoders`` hook maps each name to."""


class _RegisteredEncoder:
    """The plugin :func:`register_encoder` registers: it offers one name through the encoders hook."""

    def __init__(self, name: str, builder: EncoderBuilder) -> None:
        self.name, self.builder = name, builder

    @hookimpl
    def blackbox_saliency_encoders(self) -> dict[str, EncoderBuilder]:
        return {self.name: self.builder}


def register_encoder(name: str, builder: EncoderBuilder) -> None:
    """Register ``builder(pretrained: bool) -> EncoderSpec`` under ``name``, as a plugin of the process-wide manager.

    Registering a name again replaces the builder registered for it here; a name another plugin (or a
    built-in) already offers is refused with PluginError, since two plugins claiming a name make it ambiguous.
    The hook ``blackbox_saliency_encoders`` does the same from a plugin package.
    """
    from ..plugins.manager import get_plugin_manager, scan

    pm = get_plugin_manager()
    plugin_name = f"register_encoder({name!r})"
    earlier = pm.get_plugin(plugin_name)
    if earlier is not None:
        pm.unregister(earlier)
    offered = scan("encoders", pm).found.get(name)
    if offered is not None:
        if earlier is not None:
            pm.register(earlier, name=plugin_name)
        raise PluginError(
            f"the encoder name {name!r} is already offered by {offered.source}; register the encoder under another "
            "name."
        )
    pm.register(_RegisteredEncoder(name, builder), name=plugin_name)


def _torchvision_resnet_names() -> list[str]:
    import torchvision.models

    return sorted(
        n
        for n in torchvision.models.list_models(module=torchvision.models)
        if n.startswith(_TORCHVISION_RESNET_PREFIXES)
    )


def available_encoders() -> list[str]:
    """Names accepted by :func:`build_encoder`: every name the plugins offer through the
    ``blackbox_saliency_encoders`` hook."""
    from ..plugins.manager import registry

    return sorted(registry("encoders"))


def _torchvision_resnet(name: str, pretrained: bool = True) -> EncoderSpec:
    import torchvision.models

    network = torchvision.models.get_model(name, weights="DEFAULT" if pretrained else None)
    return EncoderSpec(network, _RESNET_NODES, IMAGENET_MEAN, IMAGENET_STD, head=network.fc, probe_size=64)


def _classifier_spec(
    classifier: nn.Module, return_nodes: Sequence[str], head: nn.Linear | None, probe_size: int
) -> EncoderSpec:
    mean = classifier.mean.flatten().tolist()
    std = classifier.std.flatten().tolist()
    return EncoderSpec(classifier.network, return_nodes, mean, std, head=head, probe_size=probe_size)


def _efficientnet_lite0(pretrained: bool = True) -> EncoderSpec:
    from ..classifiers import efficientnet_lite as module

    classifier = module.EfficientNetLite0Classifier(pretrained=pretrained)
    # strides 2, 4, 8, 16 from the classifier's own node table; stride 32 is the 1280-channel head conv
    # (not stages.6 with 320 channels) so that the class embedding can start from the 1280->1000 head.
    nodes = [module.FEATURE_NODES[s][0] for s in (2, 4, 8, 16)] + ["head_conv"]
    return _classifier_spec(classifier, nodes, classifier.head, probe_size=64)


def _cifar_resnet(depth: int) -> EncoderBuilder:
    def build(pretrained: bool = True) -> EncoderSpec:
        from ..classifiers import cifar_resnet as module

        classifier = module.CifarResNetClassifier(depth=depth, pretrained=pretrained)
        nodes = [module.FEATURE_NODES[s][0] for s in sorted(module.FEATURE_NODES)]  # layer1..layer3, strides 1, 2, 4
        return _classifier_spec(classifier, nodes, classifier.head, probe_size=32)

    return build


def builtin_encoders() -> dict[str, EncoderBuilder]:
    """The built-in encoders, offered by the built-in plugin :mod:`blackbox_saliency.maskers.plugin`."""
    found: dict[str, EncoderBuilder] = {
        "efficientnet_lite0": _efficientnet_lite0,
        "cifar10_resnet20": _cifar_resnet(20),
        "cifar10_resnet56": _cifar_resnet(56),
    }
    found.update({name: functools.partial(_torchvision_resnet, name) for name in _torchvision_resnet_names()})
    return found


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
        body = create_feature_extractor(
            spec.network, return_nodes={node: f"scale{i}" for i, node in enumerate(nodes)}
        ).eval()
        # The encoder never trains, so each Conv2d -> BatchNorm2d pair is folded into one convolution
        # (same function up to float rounding, ~10% faster on a CPU).
        self.body = fuse(body, inplace=True)
        self._keys = [f"scale{i}" for i in range(len(nodes))]
        self.register_buffer(
            "mean", torch.tensor(list(spec.mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(list(spec.std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        self.requires_grad_(False)
        self.train(False)
        with torch.no_grad():
            probe = self(torch.zeros(1, 3, spec.probe_size, spec.probe_size))
        self.channels = [int(f.shape[1]) for f in probe]
        self.strides = [int(round(spec.probe_size / f.shape[-1])) for f in probe]
        head = spec.head
        self.head_weight: torch.Tensor | None = None
        if head is not None and head.weight.shape[1] == self.channels[-1]:
            self.head_weight = head.weight.detach().clone()

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
    """Build the frozen encoder registered as ``name`` (see the module docstring for the built-in names).

    Raises InputError for a name no plugin offers, PluginError when two plugins claim it or its builder
    fails or returns something other than an :class:`EncoderSpec`.
    """
    from ..plugins.manager import build, lookup

    spec = build("encoders", name, {"pretrained": pretrained}, unknown=InputError)
    if not isinstance(spec, EncoderSpec):
        source = lookup("encoders", name).source
        raise PluginError(
            f"the encoder builder {name!r} from {source} returned {type(spec).__name__}; it must return an EncoderSpec."
        )
    return FrozenEncoder(name, spec)
