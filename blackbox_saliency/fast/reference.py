"""Pure-torch reference of the fused mask operation (the fallback path).

``mask_blend_tv(masks, images, alternative, with_destroyed)`` returns
``(upsampled, preserved, destroyed, tv)`` where

* ``upsampled`` is the (B, 1, H, W) bilinear upsampling (align_corners=False) of the (B, 1, h, w) mask,
* ``preserved = X*M + A*(1-M)``,
* ``destroyed = X*(1-M) + A*M`` (or ``None`` when not asked for),
* ``tv`` (B,) is the total variation of the *low-resolution* mask: mean squared
  horizontal difference plus mean squared vertical difference.

Example:
    >>> import torch
    >>> from blackbox_saliency.fast.reference import mask_blend_tv
    >>> up, kept, gone, tv = mask_blend_tv(torch.ones(1, 1, 2, 2), torch.rand(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    >>> float(tv[0])
    0.0
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MaskBlendTV = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]
"""``(upsampled, preserved, destroyed or None, tv)``: what both paths of ``mask_blend_tv`` return."""


def total_variation(masks: torch.Tensor) -> torch.Tensor:
    """Per-sample TV (B,): mean of squared neighbour differences along W plus along H (0 where a side is 1 px)."""
    b = masks.shape[0]
    tv = masks.new_zeros(b)
    if masks.shape[-1] > 1:
        tv = tv + (masks[..., :, 1:] - masks[..., :, :-1]).pow(2).reshape(b, -1).mean(dim=1)
    if masks.shape[-2] > 1:
        tv = tv + (masks[..., 1:, :] - masks[..., :-1, :]).pow(2).reshape(b, -1).mean(dim=1)
    return tv


def mask_blend_tv(
    masks: torch.Tensor, images: torch.Tensor, alternative: torch.Tensor, with_destroyed: bool = True
) -> MaskBlendTV:
    """Unfused reference: upsample, blend (preserve and optionally destroy) and total variation."""
    size = tuple(images.shape[-2:])
    upsampled = masks
    if tuple(masks.shape[-2:]) != size:
        upsampled = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
    difference = images - alternative
    preserved = alternative + upsampled * difference
    destroyed = images - upsampled * difference if with_destroyed else None
    return upsampled, preserved, destroyed, total_variation(masks)
