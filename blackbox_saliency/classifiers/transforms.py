"""Evaluation transforms: PIL image -> float tensor (3, H, W) in [0, 1].

Classifiers own their resizing, so these transforms only prepare a photo the
way the classifier was evaluated when it was trained: ImageNet models resize
the shorter side to ``input / 0.875`` (224 -> 256) and center-crop the input
size (:func:`blackbox_saliency.data.transforms.center_crop`, the library's one crop); CIFAR models squash
the image to 32x32.

Example:
    >>> from PIL import Image
    >>> from blackbox_saliency.classifiers.transforms import center_crop_transform
    >>> center_crop_transform((224, 224))(Image.new("RGB", (500, 375))).shape
    torch.Size([3, 224, 224])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from ..data.transforms import CROP_FRACTION, PlainTensor, center_crop
from ..io import as_rgb, to_image_tensor, to_pil_image

__all__ = ["center_crop_transform", "squash_transform"]


class _ToRGB:
    """Convert PIL images of any mode (L, P, RGBA, CMYK, ...) and numpy arrays (H, W[, C], uint8 or float in [0, 1]) to
    RGB PIL images; leave tensors alone (torchvision transforms them as images). Without this, torchvision passes a
    numpy array through untouched: a photo would reach the black box at its own size."""

    def __call__(self, image):
        if isinstance(image, np.ndarray):
            return to_pil_image(to_image_tensor(image))
        if isinstance(image, Image.Image) and image.mode != "RGB":
            return as_rgb(image)
        return image

    def __repr__(self) -> str:
        return "ToRGB()"


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    height, width = size
    return (int(height), int(width))


def center_crop_transform(
    input_size: int | Sequence[int],
    resize_size: int | None = None,
    crop_fraction: float = CROP_FRACTION,
    interpolation: v2.InterpolationMode = v2.InterpolationMode.BILINEAR,
) -> Callable[[Image.Image], torch.Tensor]:
    """Resize the shorter side to ``resize_size`` (default ``min(input_size) / crop_fraction``), then center-crop
    ``input_size``.

    Resizing runs on the PIL image (Pillow's antialiased bilinear filter), as in
    the usual ImageNet evaluation recipe. Returns a float32 tensor (3, H, W) in [0, 1].
    """
    geometry = center_crop(_pair(input_size), crop_fraction, resize_size, interpolation)
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), PlainTensor()]
    return v2.Compose([_ToRGB(), *geometry.transforms, *to_tensor])


def squash_transform(input_size: int | Sequence[int]) -> Callable[[Image.Image], torch.Tensor]:
    """Resize the whole image to exactly ``input_size`` (aspect ratio not kept), e.g. 32x32 for CIFAR."""
    return v2.Compose(
        [
            _ToRGB(),
            v2.Resize(_pair(input_size), interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            PlainTensor(),
        ]
    )
