"""What the metric results share: their JSON-friendly form (internal helper of the metrics)."""

from __future__ import annotations

import torch


def per_image_dict(summary: dict[str, object], **per_image: torch.Tensor) -> dict[str, object]:
    """``summary`` (batch means...), ``n`` (the batch size) and every per-image tensor as a list.

    Example:
        >>> import torch
        >>> per_image_dict({"mean_s": 0.5}, s=torch.tensor([0.0, 1.0]))
        {'mean_s': 0.5, 'n': 2, 's': [0.0, 1.0]}
    """
    n = next(iter(per_image.values())).shape[0]
    return {**summary, "n": int(n), **{name: values.tolist() for name, values in per_image.items()}}
