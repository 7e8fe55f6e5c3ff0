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
from .safe_load import MISSING, why_not_a_file

__all__ = [
    "IMAGE_SUFFIXES",
    "as_rgb",
    "load_image",
    "load_images",
    "open_rgb",
    "save_image",
    "to_image_tensor",
    "to_pil_image",
]

_PathLike = str | os.PathLike[str]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".gif")
"""File suffixes taken as images when a folder is scanned (training data, ``explain`` folders)."""

# Modes Pillow converts to RGB by itself without losing the range (alpha is dropped, palettes looked up).
_PILLOW_CONVERTS = frozenset(
    {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}
)
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def as_rgb(image: Image.Image, name: str = "the image") -> Image.Image:
    """Convert a PIL image of any mode Pillow reads to 8-bit RGB, keeping its value range.

    Pillow's own ``convert("RGB")`` clips 16- and 32-bit integer images (a 16-bit grey PNG
    turns white) and float images; here they are scaled: 16-bit by 1/257, 32-bit integer
    images as 16-bit data (values must lie in 0..65535), float (``F``) images in [0, 1]
    or else [0, 255]. Alpha is dropped, palettes are looked up, CMYK/YCbCr/LAB/HSV converted.

    Raises:
        ImageReadError: an unknown mode, NaN values, or values outside the ranges above.

    Example:
        >>> import numpy as np
        >>> from PIL import Image
        >>> grey16 = Image.fromarray(np.full((2, 2), 32896, np.uint16))  # mode I;16, half-grey
        >>> as_rgb(grey16).getpixel((0, 0))
        (128, 128, 128)
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "La":  # premultiplied grey + alpha: Pillow has no direct path
        return image.convert("LA").convert("RGB")
    if mode in _PILLOW_CONVERTS:
        return image.convert("RGB")
    if mode in _SIXTEEN_BIT or mode == "I":
        grey = _grey_from_integers(image, name)
    elif mode == "F":
        grey = _grey_from_floats(image, name)
    else:
        raise ImageReadError(
            f"cannot read {name}: Pillow image mode {mode!r} is not supported; "
            "convert it to RGB, grey, or a 16-bit image first"
        )
    return Image.fromarray(grey, mode="L").convert("RGB")


def _grey_from_integers(image: Image.Image, name: str) -> np.ndarray:
    """A 16- or 32-bit integer image (values in 0..65535) as 8-bit grey."""
    values = np.asarray(image).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise ImageReadError(
            f"cannot read {name}: a 32-bit integer image with values in [{values.min()}, {values.max()}], "
            "outside 0..65535; save it with 8 or 16 bits per channel"
        )
    return ((values * 255 + 32767) // 65535).astype(np.uint8)


def _grey_from_floats(image: Image.Image, name: str) -> np.ndarray:
    """A float image with values in [0, 1] (or else 0..255) as 8-bit grey."""
    values = np.asarray(image, dtype=np.float64)
    if np.isnan(values).any() or np.isinf(values).any():
        raise ImageReadError(f"cannot read {name}: the float image holds NaN or infinite values")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low < 0 or high > 255:
        raise ImageReadError(
            f"cannot read {name}: a float image with values in [{low:.4g}, {high:.4g}]; "
            "float images must hold values in [0, 1] (or 0..255); rescale it first"
        )
    scale = 255.0 if high <= 1.0 else 1.0
    return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)


def open_rgb(path: _PathLike, exif_orientation: bool = True, max_side: int | None = None) -> Image.Image:
    """Open, decode fully, apply the EXIF orientation (unless ``exif_orientation=False``, e.g. when boxes are
    given in the stored pixel grid) and convert to RGB; ImageReadError naming the file on any failure.

    ``max_side`` shrinks photos whose longer side exceeds it (aspect ratio kept; JPEGs are decoded at a
    reduced scale directly, so a 24-megapixel photo never occupies its full size in memory).
    """
    path = Path(path)
    problem = why_not_a_file(path)
    if problem is not None:
        reason = "the file does not exist" if problem == MISSING else problem
        raise ImageReadError(f"cannot read image {path}: {reason}")
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1):
        raise InputError(f"`max_side` must be a positive int or None, got {max_side!r}")
    try:
        with Image.open(path) as image:
            if max_side is not None and max(image.size) > max_side:
                scale = max_side / max(image.size)
                image.draft("RGB", (max(1, int(image.width * scale)), max(1, int(image.height * scale))))
            image.load()
            if image.width == 0 or image.height == 0:
                raise ImageReadError(f"cannot read image {path}: it has no pixels ({image.width}x{image.height})")
            if exif_orientation:
                image = ImageOps.exif_transpose(image)
            image = as_rgb(image, name=str(path))
            if max_side is not None and max(image.size) > max_side:
                image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
            return image
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"cannot read image {path}: not an image format Pillow recognises") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(
            f"cannot read image {path}: {type(exc).__name__}: {exc} (truncated or corrupt file?)"
        ) from exc


def _pil_to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255)


def load_image(path: _PathLike, max_side: int | None = None) -> torch.Tensor:
    """Read an image file (any Pillow format, converted to RGB) as a float32 (3, H, W) tensor in [0, 1].

    The EXIF orientation tag is applied; ``max_side`` shrinks larger photos (see :func:`open_rgb`).
    Raises ImageReadError naming the path and the reason when the file is missing, unreadable or not an image.
    """
    return _pil_to_tensor(open_rgb(path, max_side=max_side))


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


def _array_to_tensor(image: np.ndarray) -> torch.Tensor:
    """A channels-last numpy image (see :func:`to_image_tensor`) as a (3, H, W) tensor; uint8 scaled to [0, 1]."""
    array = image[:, :, None] if image.ndim == 2 else image
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InputError(
            f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (channels last), got {image.shape}"
        )
    if array.size == 0:
        raise InputError(f"the image array is empty (shape {image.shape}); pass an image of at least 1x1 pixels")
    array = array[:, :, :3]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(255)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"an image array must be uint8 (0..255) or float (0..1), got dtype {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1)


def _check_unit_range(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as contiguous float32 after checking it is a non-empty float image in [0, 1] without NaN."""
    if not torch.is_floating_point(tensor):
        raise InputError(f"an image tensor must be float in [0, 1], got dtype {tensor.dtype}; divide uint8 by 255")
    if tensor.numel() == 0:
        raise InputError("the image is empty")
    if torch.isnan(tensor).any():
        raise InputError("the image contains NaN values")
    lo, hi = float(tensor.min()), float(tensor.max())
    if lo < 0 or hi > 1:
        raise InputError(
            f"float images must hold values in [0, 1], found [{lo:.4g}, {hi:.4g}]; scale 0..255 data by 1/255"
        )
    return tensor.float().contiguous()


def to_image_tensor(image: object) -> torch.Tensor:
    """Convert a PIL image, a numpy array or a tensor to a float32 (3, H, W) tensor in [0, 1].

    Accepted: PIL images (any mode, converted to RGB); numpy uint8 arrays (H, W, 3),
    (H, W, 4) (alpha dropped), (H, W, 1) or (H, W) (grey, repeated); float numpy
    arrays of those shapes with values in [0, 1]; float tensors (3, H, W) in [0, 1].

    Example:
        >>> import numpy as np
        >>> to_image_tensor(np.zeros((4, 5), np.uint8)).shape
        torch.Size([3, 4, 5])
    """
    if isinstance(image, Image.Image):
        return _pil_to_tensor(as_rgb(image))
    if isinstance(image, np.ndarray):
        tensor = _array_to_tensor(image)
        if image.dtype == np.uint8:
            return tensor
    elif isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.dim() != 3 or tensor.shape[0] != 3:
            raise InputError(f"an image tensor must have shape (3, H, W), got {tuple(tensor.shape)}")
    else:
        raise InputError(f"cannot convert {type(image).__name__} to an image; pass a PIL image, numpy array or tensor")
    return _check_unit_range(tensor)


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
        raise InputError(
            f"the image to save must hold values in [0, 1], found [{float(x.min()):.4g}, {float(x.max()):.4g}]"
        )
    array = (x.float() * 255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0])
    return Image.fromarray(array)


def save_image(tensor: torch.Tensor, path: _PathLike) -> Path:
    """Save a [0, 1] image tensor atomically; the format follows the file suffix (.png, .jpg, ...).

    Masks (1, H, W) are saved as greyscale. Returns the path.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"cannot save an image to {path}: it is a folder; pass a file name such as {path / 'image.png'}"
        )
    extensions = Image.registered_extensions()
    image_format = extensions.get(path.suffix.lower())
    if image_format is None:
        raise InputError(f"cannot tell the image format of {path}; use a suffix such as .png or .jpg")
    image = to_pil_image(tensor)
    return atomic_write(path, lambda handle: image.save(handle, format=image_format))
