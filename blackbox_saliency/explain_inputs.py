"""What :func:`~blackbox_saliency.explain` reads: paths, folders, globs, PIL images and arrays, turned into batches of
prepared tensors (each photo read, prepared with the black box's evaluation transform, and released).

* :func:`image_files` expands files, folders and glob patterns into image paths
  (:func:`~blackbox_saliency.data.folders.is_image`, the one photo rule);
* :func:`prepare_function` is a black box's preparation of one (3, H, W) image;
* :func:`image_sources` and :func:`prepared_batches` turn ``explain``'s ``inputs`` into batches.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from blackbox_saliency.explain_inputs import image_sources, prepared_batches
    >>> from blackbox_saliency.interfaces import BlackBoxClassifier
    >>> box = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.LazyLinear(2)), (8, 8), ["a", "b"])
    >>> tensor, items = image_sources([torch.rand(3, 8, 8).numpy().transpose(1, 2, 0)] * 3)
    >>> tensor is None, [tuple(batch.shape) for batch in prepared_batches(items, box, batch_size=2)]
    (True, [(2, 3, 8, 8), (1, 3, 8, 8)])
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from .data.folders import is_image
from .errors import ImageReadError, InputError
from .input_checks import check_images
from .interfaces import BlackBoxClassifier
from .io import IMAGE_SUFFIXES

__all__ = ["MAX_PREPARED_PIXELS", "image_files", "image_sources", "prepare_function", "prepared_batches"]


def image_files(specs: Sequence[str | os.PathLike[str]], skipped: list[str] | None = None) -> list[Path]:
    """Expand files, folders (every image inside, recursively, sorted) and glob patterns into image paths.

    A spec that yields nothing (a folder without images, a pattern that matches no file, a FIFO or
    other non-regular file) is reported in ``skipped`` (a reason each) when it is given and the other
    specs yield photos; without ``skipped`` it raises.

    Raises:
        InputError: a spec yields nothing and ``skipped`` is None, or no spec yields anything.
    """
    import glob

    found: list[Path] = []
    problems: list[str] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if is_image(p))
            found.extend(inside)
            if not inside:
                problems.append(f"the folder {path} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        elif path.exists() and not path.is_file():
            problems.append(f"{path} is not a regular file (a FIFO, socket or device); pass image files or folders")
        elif path.exists():
            found.append(path)
        elif glob.has_magic(str(spec)):
            matches = sorted(
                Path(p) for p in glob.glob(os.path.expanduser(str(spec)), recursive=True) if Path(p).is_file()
            )
            found.extend(matches)
            if not matches:
                problems.append(f"the pattern {spec!r} matches no file")
        else:
            found.append(path)  # reported as unreadable by the reader, with the others still explained
    if problems and (skipped is None or not found):
        raise InputError("; ".join(problems) + ".")
    if skipped is not None:
        skipped.extend(problems)
    return found



#: The most pixels an image may become on its way to the black box: a shorter-side resize of a 1 x 20,000 strip would
#: otherwise allocate gigabytes. Such an image is refused (``explain`` skips it with a message).
MAX_PREPARED_PIXELS = 2**24


def _check_aspect(image: torch.Tensor, classifier: BlackBoxClassifier) -> None:
    height, width = int(image.shape[-2]), int(image.shape[-1])
    short = max(1, min(height, width))
    side = max(classifier.input_size) / 0.875  # the usual shorter-side resize before a centre crop
    if side * side * max(height, width) / short > MAX_PREPARED_PIXELS:
        raise ImageReadError(
            f"the {width}x{height} image is too elongated to explain: its shorter side resized to {side:.0f} px "
            f"would make it {side * max(height, width) / short:.0f} px long; crop it to a less extreme aspect ratio "
            "first."
        )


def prepare_function(classifier: BlackBoxClassifier):
    """(3, H, W) image in [0, 1] -> the tensor the black box is evaluated on (its ``eval_transform``; else unchanged).

    Raises ImageReadError for an image so elongated that the transform would blow it up past
    :data:`MAX_PREPARED_PIXELS`.
    """
    transform = classifier.eval_transform()
    if transform is None:
        return lambda image: image
    from .io import to_pil_image

    def prepare(image: torch.Tensor) -> torch.Tensor:
        _check_aspect(image, classifier)
        return transform(to_pil_image(image))

    return prepare


def _input_items(inputs: object) -> list:
    """One entry per image: a path, folder or glob, a PIL image and a single numpy image (H, W[, C]) are one item
    each (an array is never split into its rows); a (B, H, W, C) array and a list or tuple give their elements."""
    import numpy as np
    from PIL import Image

    if isinstance(inputs, (str, os.PathLike, Image.Image)):
        return [inputs]
    if isinstance(inputs, np.ndarray):
        return list(inputs) if inputs.ndim == 4 else [inputs]
    if isinstance(inputs, (list, tuple)):
        return list(inputs)
    raise InputError(
        f"cannot explain a {type(inputs).__name__}; pass a (B, 3, H, W) or (3, H, W) tensor, a path, folder or glob, "
        "a PIL image, a numpy image (H, W, 3), or a list of these."
    )


def image_sources(inputs: object) -> tuple[torch.Tensor | None, list]:
    """``(tensor, [])`` for a tensor input (used as it is), else ``(None, items)`` with one item per image to read."""
    if isinstance(inputs, torch.Tensor):
        images = inputs.unsqueeze(0) if inputs.dim() == 3 else inputs
        check_images(images)
        return images, []
    items = _input_items(inputs)
    if not items:
        raise InputError("`inputs` is empty; pass images, image paths or folders.")
    if all(isinstance(i, (str, os.PathLike)) for i in items):
        items = image_files(items)
    return None, items


def prepared_batches(items: list, classifier: nn.Module, batch_size: int) -> Iterator[torch.Tensor]:
    """Read and prepare ``batch_size`` images at a time (each full-size photo is released once prepared)."""
    from .io import load_image, to_image_tensor

    prepare = prepare_function(classifier)
    shape = None
    for start in range(0, len(items), batch_size):
        tensors = []
        for item in items[start : start + batch_size]:
            image = load_image(item, max_side=2048) if isinstance(item, (str, os.PathLike)) else to_image_tensor(item)
            tensors.append(prepare(image))
            if shape is not None and tuple(tensors[-1].shape) != shape:
                raise InputError(
                    f"the prepared images have different sizes {[shape, tuple(tensors[-1].shape)]}; this "
                    "classifier has no eval_transform, resize them first."
                )
            shape = tuple(tensors[-1].shape)
        yield torch.stack(tensors)
