"""Turn one video frame of any common layout into the library's image convention.

Accepted frames: NumPy ``uint8`` arrays ``(H, W, 3)``; torch tensors ``(3, H, W)`` or
``(H, W, 3)``, either ``uint8`` (0..255) or floating point in [0, 1].

Example:
    >>> import numpy as np
    >>> from blackbox_saliency.video.frames import frame_to_tensor
    >>> frame_to_tensor(np.zeros((4, 6, 3), dtype=np.uint8)).shape
    torch.Size([3, 4, 6])
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError

__all__ = ["frame_to_tensor"]


def frame_to_tensor(
    frame: object,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    index: int | None = None,
) -> torch.Tensor:
    """Return ``frame`` as a (3, H, W) tensor in [0, 1] of ``dtype`` on ``device``.

    uint8 frames are moved to the device first and converted there (4x less to copy).
    Float frames are not range-checked here (that would sync the device once per frame);
    the masker's input checks see them.
    """
    where = "" if index is None else f" (frame {index})"
    if isinstance(frame, np.ndarray):
        if frame.dtype != np.uint8:
            raise InputError(
                f"NumPy frames must be uint8 (H, W, 3){where}, got dtype {frame.dtype}; "
                "convert with (frame * 255).astype(np.uint8) or pass a float tensor in [0, 1]."
            )
        frame = torch.from_numpy(np.ascontiguousarray(frame))
    if not isinstance(frame, torch.Tensor):
        raise InputError(f"a frame must be a NumPy uint8 array or a torch tensor{where}, got {type(frame).__name__}.")
    if frame.dim() != 3 or not (frame.shape[0] == 3 or frame.shape[-1] == 3):
        raise InputError(
            f"a frame must have shape (3, H, W) or (H, W, 3){where}, got {tuple(frame.shape)}; "
            "pass one frame at a time (no batch dimension)."
        )
    channels_last = frame.shape[-1] == 3 and frame.shape[0] != 3
    if frame.dtype == torch.uint8:
        frame = frame.to(device, non_blocking=True)
        frame = frame.to(dtype).div_(255.0)
    elif torch.is_floating_point(frame):
        frame = frame.to(device=device, dtype=dtype, non_blocking=True)
    else:
        raise InputError(f"frame tensors must be uint8 or floating point in [0, 1]{where}, got dtype {frame.dtype}.")
    if channels_last:
        frame = frame.permute(2, 0, 1)
    return frame.contiguous()
