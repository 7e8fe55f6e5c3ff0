"""Decoder of the masking model: upsampler blocks and the two-channel mask head.

Each :class:`UpsamplerBlock` doubles the resolution with a transposed
convolution, concatenates the encoder's feature map of that scale and refines
the result with residual bottleneck blocks (He et al. 2016). :class:`MaskHead`
maps the last block to two channels ``C0, C1`` and returns
``M = |C0| / (|C0| + |C1| + eps)`` in [0, 1].

Feature maps of odd-sized images are handled by cropping the upsampled map to
the skip connection's size (a stride-2 layer gives ``ceil(n / 2)`` pixels, so
doubling gives ``n`` or ``n + 1``).

Example:
    >>> import torch
    >>> from blackbox_saliency.maskers.decoder import Decoder
    >>> dec = Decoder(encoder_channels=[8, 16, 32], block_channels=[16, 8], bottlenecks_per_block=1)
    >>> feats = [torch.rand(1, 8, 13, 13), torch.rand(1, 16, 7, 7), torch.rand(1, 32, 4, 4)]
    >>> dec(feats[-1], feats).shape
    torch.Size([1, 1, 13, 13])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InputError

__all__ = ["Bottleneck", "UpsamplerBlock", "MaskHead", "ResidualHead", "Decoder"]


def _conv_bn(in_ch: int, out_ch: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(out_ch)]


class Bottleneck(nn.Module):
    """Residual bottleneck: 1x1 reduce, 3x3, 1x1 expand (+ projection shortcut when widths differ)."""

    def __init__(self, in_ch: int, out_ch: int, reduction: int = 4) -> None:
        super().__init__()
        mid = max(1, out_ch // reduction)
        self.body = nn.Sequential(
            *_conv_bn(in_ch, mid, 1),
            nn.ReLU(inplace=True),
            *_conv_bn(mid, mid, 3),
            nn.ReLU(inplace=True),
            *_conv_bn(mid, out_ch, 1),
        )
        self.shortcut = nn.Identity() if in_ch == out_ch else nn.Sequential(*_conv_bn(in_ch, out_ch, 1))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class UpsamplerBlock(nn.Module):
    """x2 transposed convolution, concatenation with the skip feature map, then bottlenecks."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, bottlenecks: int = 3, reduction: int = 4) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )
        merged = out_ch + skip_ch
        if bottlenecks == 0:
            self.refine = nn.Sequential(*_conv_bn(merged, out_ch, 1), nn.ReLU(inplace=True))
        else:
            layers = [Bottleneck(merged, out_ch, reduction)] + [
                Bottleneck(out_ch, out_ch, reduction) for _ in range(bottlenecks - 1)
            ]
            self.refine = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(x)
        up = up[:, :, : skip.shape[2], : skip.shape[3]]
        return self.refine(torch.cat([up, skip], dim=1))


class MaskHead(nn.Module):
    """1x1 convolution to two channels; ``M = |C0| / (|C0| + |C1| + eps)``."""

    def __init__(self, in_ch: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, 2, kernel_size=1)
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = self.conv(x)
        if both.dtype in (torch.float16, torch.bfloat16):  # under autocast: the mask itself is computed in float32
            both = both.float()
        both = both.abs()
        c0 = both[:, 0:1]
        return c0 / (c0 + both[:, 1:2] + self.eps)


class ResidualHead(nn.Module):
    """1x1 convolution to one channel of mask *logits*, zero-initialised (the masker adds them to its class prior's)."""

    def __init__(self, in_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, 1, kernel_size=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).float()


class Decoder(nn.Module):
    """Upsampler blocks from the (filtered) coarsest map to the mask resolution, then the mask head.

    Args:
        encoder_channels: channels of the encoder's maps, finest -> coarsest.
        block_channels: output channels of each upsampler block, coarse -> fine
            (at most ``len(encoder_channels) - 1`` blocks).
        residual: end in a :class:`ResidualHead` (mask logits, zero at initialisation) instead of the
            paper's :class:`MaskHead` (a mask in [0, 1]).
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        block_channels: Sequence[int],
        bottlenecks_per_block: int = 3,
        bottleneck_reduction: int = 4,
        mask_eps: float = 1e-6,
        residual: bool = False,
    ) -> None:
        super().__init__()
        enc = list(encoder_channels)
        if not 1 <= len(block_channels) <= len(enc) - 1:
            raise InputError(
                f"the decoder needs 1..{len(enc) - 1} upsampler blocks for an encoder with {len(enc)} scales, got "
                f"{len(block_channels)}."
            )
        blocks = []
        in_ch = enc[-1]
        for i, out_ch in enumerate(block_channels):
            skip_ch = enc[-2 - i]
            blocks.append(UpsamplerBlock(in_ch, skip_ch, out_ch, bottlenecks_per_block, bottleneck_reduction))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.head = ResidualHead(in_ch) if residual else MaskHead(in_ch, mask_eps)

    def forward(self, coarsest: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        """Return the low-resolution mask (B, 1, h, w) in [0, 1], or its logits with ``residual`` (h, w = the finest
        skip map used)."""
        x = coarsest
        for i, block in enumerate(self.blocks):
            x = block(x, features[-2 - i])
        return self.head(x)
