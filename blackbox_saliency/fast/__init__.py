"""Fast path: the fused mask upsample + blend + total-variation operation.

:func:`mask_blend_tv` dispatches to the compiled extension when it is built and
falls back to the pure-torch reference otherwise; :func:`active_path` says which.
"""

from .ops import active_path, mask_blend_tv
from .reference import total_variation

__all__ = ["active_path", "mask_blend_tv", "total_variation"]
