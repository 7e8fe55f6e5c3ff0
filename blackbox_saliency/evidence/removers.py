"""Built-in evidence removers: ``blur``, ``colour_noise``, ``constant`` and ``paper``.

Example:
    >>> import torch
    >>> from blackbox_saliency.evidence.removers import PaperRemover
    >>> g = torch.Generator().manual_seed(0)
    >>> PaperRemover()(torch.rand(4, 3, 32, 32), g).shape
    torch.Size([4, 3, 32, 32])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..interfaces import EvidenceRemover

__all__ = ["GaussianBlurRemover", "ColourNoiseRemover", "ConstantRemover", "PaperRemover", "gaussian_blur"]

REFERENCE_SIZE = 224  # the paper's sigma = 10 is stated for 224 px images


def _gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with edge-replicating borders; works for any image size."""
    if sigma <= 0:
        return images
    b, c, h, w = images.shape
    kernel = _gaussian_kernel(sigma, images.dtype, images.device)
    radius = kernel.numel() // 2
    flat = images.reshape(b * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    # The normalised kernel sums to 1 only up to rounding: clamp so that [0, 1] input stays in [0, 1].
    return flat.reshape(b, c, h, w).clamp_(0.0, 1.0)


class GaussianBlurRemover(EvidenceRemover):
    """Strong Gaussian blur; ``sigma`` is given for 224 px and scaled with the shorter image side."""

    def __init__(self, sigma: float = 10.0, reference_size: int = REFERENCE_SIZE) -> None:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma < 0:
            raise InputError(f"`sigma` must be a finite number >= 0, got {sigma!r}.")
        self.sigma = float(sigma)
        self.reference_size = int(reference_size)

    def sigma_for(self, height: int, width: int) -> float:
        return self.sigma * min(height, width) / self.reference_size

    def remove(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return gaussian_blur(images, self.sigma_for(*images.shape[-2:]))


class ColourNoiseRemover(EvidenceRemover):
    """A random constant colour per image (uniform in [0, 1]^3) plus Gaussian noise, clipped to [0, 1]."""

    def __init__(self, noise_std: float = 0.2) -> None:
        if noise_std < 0:
            raise InputError(f"`noise_std` must be >= 0, got {noise_std}.")
        self.noise_std = float(noise_std)

    def remove(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b = images.shape[0]
        colour = torch.rand(b, 3, 1, 1, generator=generator, device=images.device, dtype=images.dtype)
        noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        return (colour + self.noise_std * noise).clamp_(0.0, 1.0)


class ConstantRemover(EvidenceRemover):
    """A constant grey (or any colour given as one value or three)."""

    def __init__(self, value: float | tuple[float, float, float] = 0.5) -> None:
        values = (value,) * 3 if isinstance(value, (int, float)) else tuple(value)
        if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
            raise InputError(f"`value` must be one number or three numbers in [0, 1], got {value!r}.")
        self.value = values

    def remove(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        colour = torch.tensor(self.value, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return colour.expand_as(images).clone()


class PaperRemover(EvidenceRemover):
    """The paper's alternative image: per image, blur with probability ``blur_probability``, else colour noise."""

    def __init__(self, blur_probability: float = 0.5, sigma: float = 10.0, noise_std: float = 0.2) -> None:
        if not 0.0 <= blur_probability <= 1.0:
            raise InputError(f"`blur_probability` must be in [0, 1], got {blur_probability}.")
        self.blur_probability = float(blur_probability)
        self.blur = GaussianBlurRemover(sigma)
        self.colour_noise = ColourNoiseRemover(noise_std)

    def remove(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        choose_blur = torch.rand(images.shape[0], generator=generator, device=images.device) < self.blur_probability
        noisy = self.colour_noise.remove(images, generator)
        # a free shortcut on the CPU (a host sync elsewhere)
        if images.device.type == "cpu" and not bool(choose_blur.any()):
            return noisy
        blurred = self.blur.remove(images, generator)
        return torch.where(choose_blur.view(-1, 1, 1, 1), blurred, noisy)
