"""Evidence removal: alternative images and the blend ``phi``."""

from .blend import phi, upsample_mask
from .removers import ColourNoiseRemover, ConstantRemover, GaussianBlurRemover, PaperRemover, gaussian_blur

__all__ = [
    "phi",
    "upsample_mask",
    "ColourNoiseRemover",
    "ConstantRemover",
    "GaussianBlurRemover",
    "PaperRemover",
    "gaussian_blur",
]
