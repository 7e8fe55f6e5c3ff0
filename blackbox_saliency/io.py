"""Reading and writing images as float tensors (3, H, W) in [0, 1].

Example:
    >>> import tempfile, pathlib, torch
    >>> from blackbox_saliency.io import load_image, save_image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
    >>> _ = save_image(torch.full((3, 4, 5), 0.5), path)
    >>> load_image(path).shape
    torch.Size([3, 4, 5])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write
from .errors import ImageReadError, InputError

__all__ = ["load_image", "load_images", "open_rgb", "save_image", "to_image_tensor", "to_pil_image"]

_PathLike = str | os.PathLike[str]


def open_rgb(path: _PathLike, exif_orientation: bool = True) -> Image.Image:
    """Open, decode fully, apply the EXIF orientation (unless ``exif_orientation=False``, e.g. when boxes are
    given in the stored pixel grid) and convert to RGB; ImageReadError naming the file on any failure."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"cannot read image {path}: the file does not exist")
    if path.is_dir():
        raise ImageReadError(f"cannot read image {path}: it is a directory, not an image file")
    try:
        with Image.open(path) as image:
            image.load()
            if exif_orientation:
                image = ImageOps.exif_transpose(image)
            return image.convert("RGB")
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"cannot read image {path}: not an image format Pillow recognises") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"cannot read image {path}: {type(exc).__name__}: {exc} (truncated or corrupt file?)") from exc


def _pil_to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255)


def load_image(path: _PathLike) -> torch.Tensor:
    """Read an image file (any Pillow format, converted to RGB) as a float32 (3, H, W) tensor in [0, 1].

    The EXIF orientation tag is applied. Raises ImageReadError naming the path and
    the reason when the file is missing, unreadable or not an image.
    """
    return _pil_to_tensor(open_rgb(path))


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        pair = (size, size)
    else:
        if len(size) != 2:
            raise InputError(f"`size` must be an int or (height, width), got {size!r}")
        pair = (int(size[0]), int(size[1]))
    if min(pair) < 1:
        raise InputError(f"`size` must be positive, got {size!r}")
    return pair


def load_images(paths: Sequence[_PathLike], size: int | Sequence[int] | None = None) -> torch.Tensor:
    """Read several images as a (B, 3, H, W) float32 tensor in [0, 1].

    With ``size`` = (height, width) (or an int for squares) every image is resized
    to it (Pillow bilinear, antialiased; aspect ratio not kept). Without ``size``
    all images must already share one size.
    """
    if isinstance(paths, (str, os.PathLike)):
        raise InputError("`paths` must be a list of paths; for a single image use load_image(path)")
    paths = list(paths)
    if not paths:
        raise InputError("`paths` is empty; pass at least one image path")
    target = None if size is None else _size_pair(size)
    tensors = []
    for path in paths:
        image = open_rgb(path)
        if target is not None and image.size != (target[1], target[0]):
            image = image.resize((target[1], target[0]), Image.Resampling.BILINEAR)
        tensors.append(_pil_to_tensor(image))
    shapes = {tuple(t.shape[-2:]) for t in tensors}
    if len(shapes) > 1:
        raise InputError(f"the images have different sizes {sorted(shapes)}; pass size=(height, width) to resize them")
    return torch.stack(tensors)


def to_image_tensor(image: object) -> torch.Tensor:
    """Convert a PIL image, a numpy array or a tensor to a float32 (3, H, W) tensor in [0, 1].

    Accepted: PIL images (any mode, converted to RGB); numpy uint8 arrays (H, W, 3),
    (H, W, 4) (alpha dropped), (H, W, 1) or (H, W) (grey, repeated); float numpy
    arrays of those shapes with values in [0, 1]; float tensors (3, H, W) in [0, 1].
    """
    if isinstance(image, Image.Image):
        return _pil_to_tensor(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.dim() != 3 or tensor.shape[0] != 3:
            raise InputError(f"an image tensor must have shape (3, H, W), got {tuple(tensor.shape)}")
        array = None
    elif isinstance(image, np.ndarray):
        array = image
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
            raise InputError(
                f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (channels last), got {image.shape}"
            )
        array = array[:, :, :3]
        if array.shape[2] == 1:
            array = np.repeat(array, 3, axis=2)
        if array.dtype == np.uint8:
            return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(255)
        if not np.issubdtype(array.dtype, np.floating):
            raise InputError(f"an image array must be uint8 (0..255) or float (0..1), got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1)
    else:
        raise InputError(f"cannot convert {type(image).__name__} to an image; pass a PIL image, numpy array or tensor")
    if not torch.is_floating_point(tensor):
        raise InputError(f"an image tensor must be float in [0, 1], got dtype {tensor.dtype}; divide uint8 by 255")
    if tensor.numel() == 0:
        raise InputError("the image is empty")
    if torch.isnan(tensor).any():
        raise InputError("the image contains NaN values")
    lo, hi = float(tensor.min()), float(tensor.max())
    if lo < 0 or hi > 1:
        raise InputError(f"float images must hold values in [0, 1], found [{lo:.4g}, {hi:.4g}]; scale 0..255 data by 1/255")
    return tensor.float().contiguous()


def to_pil_image(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (3, H, W), (1, H, W), (H, W) or a batch of one in [0, 1] -> 8-bit PIL image (RGB or L)."""
    if not isinstance(tensor, torch.Tensor):
        raise InputError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    x = tensor.detach().cpu()
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise InputError(f"can save one image at a time, got a batch of {x.shape[0]}; index it first")
        x = x[0]
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise InputError(f"an image to save must have shape (3, H, W) or (1, H, W), got {tuple(tensor.shape)}")
    if not torch.is_floating_point(x):
        raise InputError(f"an image to save must be a float tensor in [0, 1], got dtype {x.dtype}")
    if torch.isnan(x).any():
        raise InputError("the image to save contains NaN values")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise InputError(f"the image to save must hold values in [0, 1], found [{float(x.min()):.4g}, {float(x.max()):.4g}]")
    array = (x.float() * 255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0])
    return Image.fromarray(array)


def save_image(tensor: torch.Tensor, path: _PathLike) -> Path:
    """Save a [0, 1] image tensor atomically; the format follows the file suffix (.png, .jpg, ...).

    Masks (1, H, W) are saved as greyscale. Returns the path.
    """
    path = Path(path)
    extensions = Image.registered_extensions()
    image_format = extensions.get(path.suffix.lower())
    if image_format is None:
        raise InputError(f"cannot tell the image format of {path}; use a suffix such as .png or .jpg")
    image = to_pil_image(tensor)
    return atomic_write(path, lambda handle: image.save(handle, format=image_format))
