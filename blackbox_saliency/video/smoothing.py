"""Temporal smoothing of mask sequences so that video overlays do not flicker.

An exponential moving average: ``smoothed_t = alpha * smoothed_{t-1} + (1 - alpha) * mask_t``.
``alpha = 0`` turns smoothing off; larger ``alpha`` remembers more (0.6 keeps 60 % of the
previous smoothed mask each frame; a sudden change is 90 % through after
``log(0.1) / log(alpha)`` frames, ~4.5 frames for 0.6). Values stay in [0, 1] because each
step is a convex combination. The state lives on the masks' device.

Example:
    >>> import torch
    >>> from blackbox_saliency.video.smoothing import MaskSmoother
    >>> smoother = MaskSmoother(0.5)
    >>> smoother(torch.ones(1, 1, 1, 1)).item(), smoother(torch.zeros(1, 1, 1, 1)).item()
    (1.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InputError

__all__ = ["MaskSmoother"]


class MaskSmoother:
    """Stateful EMA over a stream of masks, fed in batches of consecutive frames.

    Args:
        alpha: weight of the past in [0, 1); 0 disables smoothing.
        reset_on_class_change: start afresh when the explained class changes, so that a mask
            of one class never bleeds into the mask of another.
    """

    def __init__(self, alpha: float = 0.6, reset_on_class_change: bool = True) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) < 1.0:
            raise InputError(f"smoothing `alpha` must be a number in [0, 1) (0 = off), got {alpha!r}.")
        self.alpha = float(alpha)
        self.reset_on_class_change = reset_on_class_change
        self._state: torch.Tensor | None = None
        self._class: int | None = None

    def reset(self) -> None:
        """Forget the past (e.g. at a scene cut)."""
        self._state = None
        self._class = None

    def __call__(self, masks: torch.Tensor, classes: Sequence[int] | None = None) -> torch.Tensor:
        """Smooth a batch of consecutive masks (T, 1, H, W) in order; returns (T, 1, H, W)."""
        if masks.dim() != 4 or masks.shape[1] != 1:
            raise InputError(f"`masks` must have shape (T, 1, H, W), got {tuple(masks.shape)}.")
        if classes is not None and len(classes) != masks.shape[0]:
            raise InputError(f"`classes` has {len(classes)} entries for {masks.shape[0]} masks.")
        if self.alpha == 0.0:
            return masks
        out = torch.empty_like(masks)
        for t in range(masks.shape[0]):
            cls = None if classes is None else int(classes[t])
            stale = (
                self._state is None
                or self._state.shape != masks[t].shape
                or self._state.device != masks.device
                or (self.reset_on_class_change and cls != self._class)
            )
            if stale:
                self._state = masks[t].clone()
            else:
                self._state = torch.lerp(masks[t], self._state, self.alpha)
            self._class = cls
            out[t] = self._state
        return out
