"""Dispatch of the fused mask operation: the compiled extension when built, the torch reference otherwise.

The extension ``blackbox_saliency._C`` (csrc/, built by setup.py) defines the torch.library ops
``torch.ops.blackbox_saliency.mask_blend_tv`` and ``...mask_blend_tv_backward`` with CPU (and,
where compiled, CUDA) kernels. This module registers their autograd formula and their fake
(meta) kernels, so autograd, TorchScript (call ``torch.ops.blackbox_saliency.mask_blend_tv``)
and ``torch.compile`` all see one opaque op.

:func:`mask_blend_tv` uses the op for float32/float64 tensors of matching shapes on a device the
build supports, and :func:`blackbox_saliency.fast.reference.mask_blend_tv` (plain torch ops, same
results) for everything else, or when the extension is missing or disabled with
``BLACKBOX_SALIENCY_NO_EXTENSION=1``. :func:`active_path` says which path is active and why.

Example:
    >>> import torch
    >>> from blackbox_saliency.fast import active_path, mask_blend_tv
    >>> up, kept, gone, tv = mask_blend_tv(torch.rand(2, 1, 7, 7), torch.rand(2, 3, 32, 32), torch.zeros(2, 3, 32, 32))
    >>> up.shape, kept.shape, gone.shape, tv.shape
    (torch.Size([2, 1, 32, 32]), torch.Size([2, 3, 32, 32]), torch.Size([2, 3, 32, 32]), torch.Size([2]))
    >>> active_path().split(" ")[0] in {"cpp-extension", "torch-reference"}
    True
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import torch

from .reference import MaskBlendTV
from .reference import mask_blend_tv as reference_mask_blend_tv

__all__ = ["OP_NAME", "BACKWARD_OP_NAME", "active_path", "extension_available", "mask_blend_tv"]

OP_NAME = "blackbox_saliency::mask_blend_tv"
BACKWARD_OP_NAME = "blackbox_saliency::mask_blend_tv_backward"
DISABLE_ENV = "BLACKBOX_SALIENCY_NO_EXTENSION"
_DTYPES = (torch.float32, torch.float64)


def _load_extension() -> tuple[ModuleType | None, str]:
    """Import ``blackbox_saliency._C``; return (module or None, why it is missing)."""
    if os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return None, f"disabled by {DISABLE_ENV}={os.environ[DISABLE_ENV]}"
    try:
        _C = importlib.import_module("blackbox_saliency._C")
    except ImportError as error:
        if isinstance(error, ModuleNotFoundError) and error.name == "blackbox_saliency._C":
            return None, "blackbox_saliency._C is not built (`pip install .` or `python setup.py build_ext --inplace`)"
        return None, f"blackbox_saliency._C failed to load: {error}"
    except Exception as error:  # noqa: BLE001 - a broken build must not break the package
        return None, f"blackbox_saliency._C failed to load: {error}"
    built = _C.built_torch_version()
    running = torch.__version__.split("+")[0]
    if built.split(".")[:2] != running.split(".")[:2]:
        return None, f"blackbox_saliency._C was built for torch {built}, running torch {running}; rebuild it"
    return _C, ""


_C, _MISSING_REASON = _load_extension()
_CUDA_BUILT = bool(_C is not None and _C.cuda_compiled())


def extension_available() -> bool:
    """True when the compiled ops are loaded and used for supported inputs."""
    return _C is not None


def active_path() -> str:
    """Name the implementation in use.

    ``"cpp-extension (cpu+cuda)"`` or ``"cpp-extension (cpu)"`` when the compiled ops are loaded,
    otherwise ``"torch-reference (<why the extension is missing>)"``.

    Example:
        >>> from blackbox_saliency.fast import active_path
        >>> active_path().startswith(("cpp-extension", "torch-reference"))
        True
    """
    if _C is None:
        return f"torch-reference ({_MISSING_REASON})"
    return "cpp-extension (cpu+cuda)" if _CUDA_BUILT else "cpp-extension (cpu)"


def _mask_blend_tv_fake(masks, images, alternative, with_destroyed):  # noqa: ANN001, ANN202
    """Fake kernel of the forward op: output shapes only (torch.compile, torch.export)."""
    torch._check(
        masks.dim() == 4 and masks.shape[1] == 1, lambda: f"masks must be (B, 1, h, w), got {tuple(masks.shape)}"
    )
    torch._check(images.dim() == 4, lambda: f"images must be (B, C, H, W), got {tuple(images.shape)}")
    torch._check(alternative.shape == images.shape, lambda: "alternative must have the shape of images")
    torch._check(masks.shape[0] == images.shape[0], lambda: "masks and images must share the batch size")
    batch, channels, height, width = images.shape
    upsampled = images.new_empty((batch, 1, height, width))
    preserved = images.new_empty((batch, channels, height, width))
    destroyed = images.new_empty((batch, channels, height, width)) if with_destroyed else images.new_empty((0,))
    return upsampled, preserved, destroyed, images.new_empty((batch,))


def _mask_blend_tv_backward_fake(  # noqa: ANN202, PLR0913 - the arguments of the registered backward op
    grad_upsampled, grad_preserved, grad_destroyed, grad_tv, masks, images, alternative, output_mask  # noqa: ANN001
):
    """Fake kernel of the backward op: gradients shaped like the inputs that need one, else empty."""

    def grad_like(tensor: torch.Tensor, needed: bool) -> torch.Tensor:
        return images.new_empty(tuple(tensor.shape)) if needed else images.new_empty((0,))

    return (
        grad_like(masks, output_mask[0]),
        grad_like(images, output_mask[1]),
        grad_like(alternative, output_mask[2]),
    )


def _setup_context(ctx, inputs, output) -> None:  # noqa: ANN001
    masks, images, alternative, with_destroyed = inputs
    ctx.save_for_backward(masks, images, alternative)
    ctx.with_destroyed = bool(with_destroyed)
    # Unused outputs get None instead of zero tensors: the kernel skips them.
    ctx.set_materialize_grads(False)


def _backward(ctx, grad_upsampled, grad_preserved, grad_destroyed, grad_tv):  # noqa: ANN001, ANN202
    masks, images, alternative = ctx.saved_tensors
    needed = [bool(flag) for flag in ctx.needs_input_grad[:3]]
    if not any(needed):
        return None, None, None, None
    if not ctx.with_destroyed:
        grad_destroyed = None
    grad_masks, grad_images, grad_alternative = torch.ops.blackbox_saliency.mask_blend_tv_backward(
        grad_upsampled, grad_preserved, grad_destroyed, grad_tv, masks, images, alternative, needed
    )
    return (
        grad_masks if needed[0] else None,
        grad_images if needed[1] else None,
        grad_alternative if needed[2] else None,
        None,
    )


def _register() -> None:
    """Fake kernels and the autograd formula of the compiled ops."""
    torch.library.register_fake(OP_NAME)(_mask_blend_tv_fake)
    torch.library.register_fake(BACKWARD_OP_NAME)(_mask_blend_tv_backward_fake)
    torch.library.register_autograd(OP_NAME, _backward, setup_context=_setup_context)


if _C is not None:
    _register()


def _fused_supported(masks: torch.Tensor, images: torch.Tensor, alternative: torch.Tensor) -> bool:
    """Whether the compiled op handles these inputs (else the reference runs)."""
    if _C is None:
        return False
    device = images.device
    if device.type not in ("cpu", "cuda") or (device.type == "cuda" and not _CUDA_BUILT):
        return False
    if masks.device != device or alternative.device != device:
        return False
    if images.dtype not in _DTYPES or masks.dtype != images.dtype or alternative.dtype != images.dtype:
        return False
    if masks.dim() != 4 or images.dim() != 4 or masks.shape[1] != 1:
        return False
    if alternative.shape != images.shape or masks.shape[0] != images.shape[0]:
        return False
    return min(masks.shape[2], masks.shape[3], images.shape[2], images.shape[3]) > 0


def mask_blend_tv(
    masks: torch.Tensor, images: torch.Tensor, alternative: torch.Tensor, with_destroyed: bool = True
) -> MaskBlendTV:
    """Upsample masks to the images, blend, and take the total variation, in one pass.

    Args:
        masks: (B, 1, h, w) masks at any resolution (1 = evidence kept).
        images: (B, C, H, W) images ``X``.
        alternative: (B, C, H, W) alternative images ``A`` (evidence removed).
        with_destroyed: also return the destroyed image.

    Returns:
        ``(upsampled, preserved, destroyed, tv)``: the bilinear (align_corners=False) upsampling
        ``M`` (B, 1, H, W), ``X*M + A*(1-M)``, ``X*(1-M) + A*M`` (``None`` unless
        ``with_destroyed``), and the total variation (B,) of the low-resolution masks.
        Gradients flow to all three inputs.

    Example:
        >>> import torch
        >>> from blackbox_saliency.fast import mask_blend_tv
        >>> masks, images, alternative = torch.ones(1, 1, 2, 2), torch.rand(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
        >>> up, kept, gone, tv = mask_blend_tv(masks, images, alternative, False)
        >>> gone is None, float(tv[0]), bool(up.eq(1).all())
        (True, 0.0, True)
    """
    if _fused_supported(masks, images, alternative):
        upsampled, preserved, destroyed, tv = torch.ops.blackbox_saliency.mask_blend_tv(
            masks, images, alternative, bool(with_destroyed)
        )
        return upsampled, preserved, destroyed if with_destroyed else None, tv
    return reference_mask_blend_tv(masks, images, alternative, with_destroyed)
