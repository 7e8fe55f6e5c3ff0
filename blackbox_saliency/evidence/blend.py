"""The blend ``phi(X, M, A) = X*M + A*(1-M)`` and mask upsampling.

Example:
    >>> import torch
    >>> from blackbox_saliency.evidence.blend import phi
    >>> x, a = torch.rand(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    >>> torch.equal(phi(x, torch.ones(1, 1, 4, 4), a), x)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..input_checks import check_images, check_masks, check_same_batch, check_same_spatial, input_checks_enabled

__all__ = ["phi", "upsample_mask"]


def upsample_mask(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize (B, 1, h, w) masks to ``size`` (align_corners=False); identity when already that size."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.interpolate(masks, size=tuple(size), mode="bilinear", align_corners=False)


def phi(images: torch.Tensor, masks: torch.Tensor, alternative: torch.Tensor) -> torch.Tensor:
    """Keep the evidence where ``masks`` is 1 and replace it by ``alternative`` where it is 0.

    ``masks`` may be at a lower resolution; it is upsampled bilinearly to the image size.
    The inputs are checked unless inside :func:`~blackbox_saliency.input_checks.skip_input_checks`.
    """
    if input_checks_enabled():
        check_images(images)
        check_images(alternative, name="alternative")
        check_masks(masks)
        check_same_batch(images=images, masks=masks, alternative=alternative)
        check_same_spatial(images, alternative, "images", "alternative")
        for name, other in (("masks", masks), ("alternative", alternative)):
            if other.dtype != images.dtype:
                raise InputError(
                    f"`{name}` has dtype {other.dtype} but `images` has {images.dtype}; cast it with .to(images.dtype)."
                )
    masks = upsample_mask(masks, images.shape[-2:])
    return alternative + masks * (images - alternative)
