"""Photo transforms: the ImageNet centre crop (:data:`CROP_FRACTION`, defined here only) and the training augmentation.

The centre crop resizes the shorter side to ``min(size) / CROP_FRACTION`` (224 -> 256) and cuts ``size``
from the middle; applied by torchvision's v2 transforms, it moves bounding boxes along with the image.

Example:
    >>> from PIL import Image
    >>> from blackbox_saliency.data.transforms import build_transform, center_crop
    >>> center_crop((224, 224))(Image.new("RGB", (500, 375))).size
    (224, 224)
    >>> build_transform(64, train=True)(Image.new("RGB", (80, 60))).shape
    torch.Size([3, 64, 64])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import v2

from ..errors import InputError

__all__ = [
    "AUGMENTATIONS",
    "CROP_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PlainTensor",
    "build_transform",
    "center_crop",
]

#: The ImageNet normalisation (per-channel mean and standard deviation of [0, 1] images): defined once.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_FRACTION = 0.875
"""Fraction of the resized shorter side kept by the centre crop (224 / 256)."""

AUGMENTATIONS = ("none", "standard", "heavy")


class PlainTensor:
    """Drop torchvision's ``tv_tensors.Image`` subclass so callers get a plain tensor."""

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return image.as_subclass(torch.Tensor)

    def __repr__(self) -> str:
        return "PlainTensor()"


def center_crop(
    size: int | Sequence[int],
    crop_fraction: float = CROP_FRACTION,
    resize_size: int | None = None,
    interpolation: v2.InterpolationMode = v2.InterpolationMode.BILINEAR,
) -> v2.Compose:
    """Resize the shorter side to ``resize_size`` (default ``min(size) / crop_fraction``) and centre-crop ``size``.

    ``size`` is a side or (height, width). The two steps (``.transforms``: Resize, CenterCrop) apply to
    images and boxes alike; the output keeps the input's type (PIL image or tensor).
    """
    sides = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if resize_size is None:
        resize_size = int(round(min(sides) / crop_fraction))
    crop = size if isinstance(size, int) else sides
    return v2.Compose([v2.Resize(int(resize_size), interpolation=interpolation, antialias=True), v2.CenterCrop(crop)])


def build_transform(
    image_size: int,
    train: bool,
    augment: str = "standard",
    crop_scale: tuple[float, float] = (0.35, 1.0),
    photos: bool = True,
    whole_view_prob: float = 0.0,
) -> Callable[[object], torch.Tensor]:
    """Transform from a PIL image or uint8 (3, H, W) tensor to a float32 (3, S, S) tensor in [0, 1].

    Training (``augment`` ``standard``): random resized crop (area fraction ``crop_scale``) and horizontal
    flip; with probability ``whole_view_prob`` the view is instead the whole photo resized to ``S x S``
    (aspect ratio ignored: what ``blackbox-saliency evaluate`` shows a masker); ``heavy`` adds colour jitter.
    Evaluation (or ``augment="none"``): photos get the :func:`center_crop` (shorter side ``S / 0.875``);
    small arrays (``photos=False``) are resized to ``S x S``.
    """
    if augment not in AUGMENTATIONS:
        raise InputError(f"`augment` must be one of {AUGMENTATIONS}, got {augment!r}.")
    size = int(image_size)
    if size < 8:
        raise InputError(f"`image_size` must be >= 8 pixels, got {image_size}.")
    lo, hi = (float(v) for v in crop_scale)
    if not 0.0 < lo <= hi <= 1.0:
        raise InputError(f"`crop_scale` must satisfy 0 < min <= max <= 1, got {crop_scale!r}.")
    steps: list[object] = [v2.ToImage()]
    if not 0.0 <= float(whole_view_prob) <= 1.0:
        raise InputError(f"`whole_view_prob` must lie in [0, 1], got {whole_view_prob!r}.")
    if train and augment != "none":
        crop = v2.RandomResizedCrop(size, scale=(lo, hi), antialias=True)
        if whole_view_prob > 0:
            whole = float(whole_view_prob)
            crop = v2.RandomChoice([v2.Resize((size, size), antialias=True), crop], p=[whole, 1.0 - whole])
        steps += [crop, v2.RandomHorizontalFlip()]
        if augment == "heavy":
            steps.append(v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05))
    elif photos:
        steps += list(center_crop(size).transforms)
    else:
        steps.append(v2.Resize((size, size), antialias=True))
    steps += [v2.ToDtype(torch.float32, scale=True), PlainTensor()]
    return v2.Compose(steps)
