"""CIFAR-10 ResNet-20 / ResNet-56 ("option A" shortcuts, He et al. 2016) as black boxes.

Architecture ResNet-(6n+2), written from the description in the shared data's
``cifar10/README.md``: 3x3 stem conv (16 channels) + BN + ReLU, three stages of
``n`` BasicBlocks with 16/32/64 channels (the first block of stages 2 and 3 has
stride 2), global average pooling and ``Linear(64, 10)``. A downsampling block's
shortcut takes every second pixel and zero-pads the channels (no parameters).
Weights: ``cifar10/weights/resnet20-12fca82f.th`` / ``resnet56-4bfd9763.th``
under the shared data folder (:mod:`blackbox_saliency.data.paths`).
Input: (32, 32), normalised with ImageNet mean/std (0.485, 0.456, 0.406) /
(0.229, 0.224, 0.225).

Feature nodes of ``classifier.network`` for
``torchvision.models.feature_extraction.create_feature_extractor``::

    stride  node       channels  size
    1       "stem_act" 16       32x32   conv1 + bn1 + ReLU
    1       "layer1"  16        32x32
    2       "layer2"  32        16x16
    4       "layer3"  64        8x8
            "linear"  10                logits

:attr:`CifarResNetClassifier.head` is the final ``Linear(64, 10)``.

Example:
    >>> import torch
    >>> from blackbox_saliency.classifiers.cifar_resnet import CifarResNetClassifier
    >>> model = CifarResNetClassifier(depth=20, pretrained=False)
    >>> model(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.paths import require
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..errors import InputError
from ._backbone import BackboneBlackBox
from ._weights import load_strict, read_state_dict
from .names import CIFAR10_CLASSES
from .transforms import squash_transform

__all__ = ["classifier_head", "CifarResNet", "CifarResNetClassifier", "FEATURE_NODES", "WEIGHT_FILES"]

WEIGHT_FILES: dict[int, str] = {
    20: "cifar10/weights/resnet20-12fca82f.th",
    56: "cifar10/weights/resnet56-4bfd9763.th",
}
"""depth -> weights file relative to the shared data folder."""

FEATURE_NODES: dict[int, tuple[str, int]] = {1: ("layer1", 16), 2: ("layer2", 32), 4: ("layer3", 64)}
"""stride -> (node name in ``classifier.network``, channels)."""


class ShortcutA(nn.Module):
    """Parameter-free shortcut: subsample by ``stride`` and zero-pad ``pad`` channels on each side."""

    def __init__(self, stride: int, pad: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, :: self.stride, :: self.stride], [0, 0, 0, 0, self.pad, self.pad])


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            if cout - cin != 2 * (cout // 4):
                raise ValueError(f"option-A shortcut expects the channels to double, got {cin} -> {cout}")
            self.shortcut: nn.Module = ShortcutA(stride, cout // 4)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 CIFAR input; parameter names match the published checkpoints."""

    def __init__(self, depth: int = 20, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise InputError(f"depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.stem_act = nn.ReLU()
        self.layer1 = self._stage(16, 16, n, 1)
        self.layer2 = self._stage(16, 32, n, 2)
        self.layer3 = self._stage(32, 64, n, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.linear = nn.Linear(64, num_classes)

    @staticmethod
    def _stage(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(cin, cout, stride), *[BasicBlock(cout, cout, 1) for _ in range(blocks - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_act(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(self.flatten(self.pool(x)))


def classifier_head(network: nn.Module) -> nn.Linear:
    """The final ``Linear(64, 10)`` of a network built by this module (same as ``classifier.head``)."""
    return network.linear


class CifarResNetClassifier(BackboneBlackBox):
    """CIFAR-10 ResNet black box: (B, 3, H, W) in [0, 1] -> (B, 10) logits.

    Args:
        depth: 20 or 56 for the shipped weights (any 6n+2 with ``pretrained=False``).
        weights_path: checkpoint file (``{"state_dict": ...}`` or a plain state dict,
            ``module.`` prefixes are stripped); default: the shared data's file for ``depth``.
        pretrained: load weights (``False`` with no ``weights_path``: random init).

    Raises:
        DataNotFoundError: the weights file is missing.
        CheckpointError: it is unreadable or does not fit ResNet-``depth``.
    """

    gradcam_layer = "network.layer3"  # last stage, 8x8 at 32 px input
    cam_layers = ("network.layer3", "network.linear")  # logits = linear(avg_pool(layer3))
    FEATURE_NODES = FEATURE_NODES
    head_of = staticmethod(classifier_head)

    def __init__(
        self, depth: int = 20, weights_path: str | os.PathLike[str] | None = None, pretrained: bool = True
    ) -> None:
        network = CifarResNet(depth)
        what = f"CIFAR ResNet-{depth}"
        if weights_path is not None or pretrained:
            if weights_path is None:
                if depth not in WEIGHT_FILES:
                    raise InputError(
                        f"no pretrained weights for ResNet-{depth}; choose depth in {sorted(WEIGHT_FILES)}, "
                        "pass weights_path=..., or use pretrained=False"
                    )
                path = require(WEIGHT_FILES[depth])
            else:
                path = Path(weights_path)
            load_strict(network, read_state_dict(path, what), path, what)
        super().__init__(
            network, (32, 32), CIFAR10_CLASSES, mean=IMAGENET_MEAN, std=IMAGENET_STD
        )

    def eval_transform(self):
        """PIL image -> (3, 32, 32) float tensor in [0, 1] (whole image resized to 32x32)."""
        return squash_transform(self.input_size)
