"""Fast path: the fused mask upsample + blend + total-variation operation.

:func:`mask_blend_tv` runs the compiled torch.library op ``torch.ops.blackbox_saliency.mask_blend_tv``
(C++/OpenMP on CPU, CUDA where built; forward and backward) when the extension
``blackbox_saliency._C`` is built, and the pure-torch reference with the same results otherwise;
:func:`active_path` says which, and why the extension is missing when it is.

Example:
    >>> import torch
    >>> from blackbox_saliency.fast import active_path, mask_blend_tv
    >>> masks, images, alternative = torch.rand(1, 1, 7, 7), torch.rand(1, 3, 28, 28), torch.zeros(1, 3, 28, 28)
    >>> upsampled, preserved, destroyed, tv = mask_blend_tv(masks, images, alternative)
    >>> tuple(upsampled.shape), tuple(tv.shape)
    ((1, 1, 28, 28), (1,))
"""

from .ops import active_path, extension_available, mask_blend_tv
from .reference import total_variation

__all__ = ["active_path", "extension_available", "mask_blend_tv", "total_variation"]
