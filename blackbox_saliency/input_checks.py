"""Input checks shared by the whole library.

Conventions: images are float tensors, RGB, NCHW, values in [0, 1]; masks are
(B, 1, H, W) in [0, 1]; class selectors are int64 tensors of shape (B,).
Every check raises :class:`~blackbox_saliency.errors.InputError` naming the
argument, what was wrong and how to fix it.

Checks run at the library's boundary (calling a masker or a black box,
``phi``, the objective, the metrics). :func:`skip_input_checks` is the one
opt-out, for hot paths whose data was validated where it entered (the training
step uses it): inside it every check of this module returns at once, so no
reduction and no host-device sync is spent on validation.

Example:
    >>> import torch
    >>> from blackbox_saliency.input_checks import check_images, skip_input_checks
    >>> check_images(torch.rand(2, 3, 8, 8)).shape
    torch.Size([2, 3, 8, 8])
    >>> with skip_input_checks():
    ...     check_images(torch.rand(2, 3, 8, 8) * 255).shape  # not checked
    torch.Size([2, 3, 8, 8])
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch

from .errors import InputError

__all__ = [
    "check_images",
    "check_masks",
    "check_classes",
    "check_same_batch",
    "check_same_spatial",
    "check_generator",
    "input_checks_enabled",
    "skip_input_checks",
]

_CHECKS_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("blackbox_saliency_input_checks", default=True)


def input_checks_enabled() -> bool:
    """False inside :func:`skip_input_checks` (of this thread / task), True elsewhere."""
    return _CHECKS_ENABLED.get()


@contextlib.contextmanager
def skip_input_checks() -> Iterator[None]:
    """Skip the library's input checks inside the block (the one opt-out; for validated hot paths only).

    Example:
        >>> import torch
        >>> from blackbox_saliency import load_masker, skip_input_checks
        >>> masker = load_masker("center")
        >>> with skip_input_checks():
        ...     masks = masker(torch.rand(2, 3, 16, 16), torch.tensor([0, 1]))
        >>> masks.shape
        torch.Size([2, 1, 16, 16])
    """
    token = _CHECKS_ENABLED.set(False)
    try:
        yield
    finally:
        _CHECKS_ENABLED.reset(token)


def _check_float_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}; convert with torch.as_tensor(...).")
    if x.device.type == "meta":
        raise InputError(
            f"`{name}` is on the meta device (a shape without data); create it on the CPU or a GPU, "
            "e.g. torch.empty_like(x, device='cpu'), or load its data first."
        )
    if not torch.is_floating_point(x):
        raise InputError(
            f"`{name}` must be a floating-point tensor, got dtype {x.dtype}; "
            f"for uint8 images use `{name}.float() / 255`."
        )
    return x


def _check_finite_unit_range(x: torch.Tensor, name: str) -> None:
    if x.numel() == 0:
        raise InputError(f"`{name}` is empty (shape {tuple(x.shape)}); pass at least one element.")
    if torch.isnan(x).any():
        raise InputError(f"`{name}` contains NaN values; clean the input before explaining it.")
    lo, hi = float(x.detach().min()), float(x.detach().max())
    if lo < 0.0 or hi > 1.0:
        raise InputError(
            f"`{name}` must hold values in [0, 1], found range [{lo:.4g}, {hi:.4g}]; "
            "scale 0..255 images by 1/255 and do not pass normalised tensors (each classifier normalises itself)."
        )


#: How far outside [0, 1] a classifier's input may stray (resizing and blending overshoot by rounding).
RANGE_TOLERANCE = 1e-3


def check_classifier_images(images: object, name: str = "images") -> torch.Tensor:
    """What every black box checks: a float (B, 3, H, W) tensor, no NaN, values in [0, 1] within
    :data:`RANGE_TOLERANCE`."""
    if not _CHECKS_ENABLED.get():
        return images  # type: ignore[return-value]
    x = check_images(images, name, check_range=False)
    lo, hi = torch.aminmax(x.detach())
    lo, hi = float(lo), float(hi)
    if lo != lo or hi != hi:  # NaN propagates through aminmax
        raise InputError(f"`{name}` contains NaN values; clean the input before classifying it.")
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise InputError(
            f"`{name}` must hold values in [0, 1], found range [{lo:.4g}, {hi:.4g}]; scale 0..255 images "
            "by 1/255 and do not pass normalised tensors (the classifier normalises itself)."
        )
    return x


def check_images(images: object, name: str = "images", check_range: bool = True) -> torch.Tensor:
    """Check that ``images`` is a float (B, 3, H, W) tensor in [0, 1] and return it."""
    if not _CHECKS_ENABLED.get():
        return images  # type: ignore[return-value]
    x = _check_float_tensor(images, name)
    if x.dim() != 4:
        hint = " (add a batch dimension with .unsqueeze(0))" if x.dim() == 3 else ""
        raise InputError(f"`{name}` must have 4 dimensions (B, 3, H, W), got shape {tuple(x.shape)}{hint}.")
    if x.shape[1] != 3:
        hint = " (channels-last? use .permute(0, 3, 1, 2))" if x.shape[-1] == 3 else ""
        raise InputError(f"`{name}` must have 3 RGB channels in dimension 1, got shape {tuple(x.shape)}{hint}.")
    if x.numel() == 0:
        raise InputError(f"`{name}` is empty (shape {tuple(x.shape)}); pass at least one image of at least 1x1 pixels.")
    if check_range:
        _check_finite_unit_range(x, name)
    return x


def check_masks(masks: object, name: str = "masks", check_range: bool = True) -> torch.Tensor:
    """Check that ``masks`` is a float (B, 1, H, W) tensor in [0, 1] and return it."""
    if not _CHECKS_ENABLED.get():
        return masks  # type: ignore[return-value]
    m = _check_float_tensor(masks, name)
    if m.dim() != 4 or m.shape[1] != 1:
        raise InputError(
            f"`{name}` must have shape (B, 1, H, W), got {tuple(m.shape)}; use .unsqueeze(1) for (B, H, W) masks."
        )
    if check_range:
        _check_finite_unit_range(m, name)
    return m


def check_classes(
    classes: object, num_classes: int | None = None, batch: int | None = None, name: str = "classes"
) -> torch.Tensor:
    """Check that ``classes`` is an int64 (B,) tensor with values in [0, num_classes)."""
    if not _CHECKS_ENABLED.get():
        return classes  # type: ignore[return-value]
    if not isinstance(classes, torch.Tensor):
        raise InputError(
            f"`{name}` must be a torch.Tensor of dtype int64, got {type(classes).__name__}; use torch.tensor([...])."
        )
    if classes.dtype != torch.int64:
        raise InputError(f"`{name}` must have dtype torch.int64, got {classes.dtype}; use `{name}.long()`.")
    if classes.dim() != 1:
        raise InputError(f"`{name}` must have shape (B,), got {tuple(classes.shape)}.")
    if batch is not None and classes.shape[0] != batch:
        raise InputError(
            f"`{name}` has {classes.shape[0]} entries but the batch has {batch} images; pass one class per image."
        )
    if num_classes is not None and classes.numel() > 0:
        lo, hi = int(classes.min()), int(classes.max())
        if lo < 0 or hi >= num_classes:
            raise InputError(
                f"`{name}` must lie in [0, {num_classes - 1}], found values in [{lo}, {hi}] (class index out of range)."
            )
    return classes


def check_same_batch(**tensors: torch.Tensor) -> int:
    """Check that all tensors share the batch size (dimension 0) and return it."""
    sizes = {name: int(t.shape[0]) for name, t in tensors.items()}
    if not _CHECKS_ENABLED.get():
        return next(iter(sizes.values()))
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"`{k}`={v}" for k, v in sizes.items())
        raise InputError(f"mismatched batch sizes: {listed}; every argument needs the same number of samples.")
    return next(iter(sizes.values()))


def check_same_spatial(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Check that two NCHW tensors share H and W."""
    if not _CHECKS_ENABLED.get():
        return
    if a.shape[-2:] != b.shape[-2:]:
        raise InputError(
            f"`{name_a}` is {tuple(a.shape[-2:])} pixels but `{name_b}` is {tuple(b.shape[-2:])}; "
            "resize one of them (torch.nn.functional.interpolate) so that they match."
        )


def check_generator(generator: object, device: torch.device) -> torch.Generator | None:
    """Check that ``generator`` is ``None`` or a torch.Generator on ``device``."""
    if generator is None or not _CHECKS_ENABLED.get():
        return generator  # type: ignore[return-value]
    if not isinstance(generator, torch.Generator):
        raise InputError(f"`generator` must be a torch.Generator or None, got {type(generator).__name__}.")
    if torch.device(generator.device).type != torch.device(device).type:
        raise InputError(
            f"`generator` lives on {generator.device} but the images are on {device}; "
            f"create it with torch.Generator(device={str(device)!r})."
        )
    return generator
