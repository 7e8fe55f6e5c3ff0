"""The class-selective feature filter of the masking model (Dabkowski & Gal 2017, section 4).

For the coarsest feature map ``X`` (B, C, h, w) and a learned class embedding
``C_s`` (one C-vector per class), the filter keeps the locations whose features
agree with the selected class::

    Y_ij = X_ij * sigmoid(X_ij . C_s)

It also returns ``max_ij X_ij . C_s`` per image: the paper trains the embedding
much faster when that score is pushed up for the true class and down for a fake
one (the trainer adds that auxiliary term).

Example:
    >>> import torch
    >>> from blackbox_saliency.maskers.feature_filter import FeatureFilter
    >>> f = FeatureFilter(num_classes=10, channels=8)
    >>> y, scores = f(torch.rand(2, 8, 3, 3), torch.tensor([1, 7]))
    >>> y.shape, scores.shape
    (torch.Size([2, 8, 3, 3]), torch.Size([2]))
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InputError

__all__ = ["FeatureFilter"]


class FeatureFilter(nn.Module):
    """``Y = X * sigmoid(X . C_s)`` with a learned class embedding ``C`` (``nn.Embedding``)."""

    def __init__(self, num_classes: int, channels: int, init_std: float = 1.0) -> None:
        super().__init__()
        if num_classes < 1 or channels < 1:
            raise InputError(f"FeatureFilter needs num_classes >= 1 and channels >= 1, got {num_classes} and {channels}.")
        self.embedding = nn.Embedding(num_classes, channels)
        nn.init.normal_(self.embedding.weight, std=init_std / math.sqrt(channels))

    @property
    def num_classes(self) -> int:
        return self.embedding.num_embeddings

    @property
    def channels(self) -> int:
        return self.embedding.embedding_dim

    def init_from(self, weight: torch.Tensor, scale: float = 1.0) -> None:
        """Copy ``scale * weight`` (num_classes, channels) into the embedding (e.g. a classifier head's weight)."""
        expected = (self.num_classes, self.channels)
        if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != expected:
            shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
            raise InputError(f"embedding init weight must have shape {expected} (num_classes, coarsest channels), got {shape}.")
        with torch.no_grad():
            self.embedding.weight.copy_(weight.to(self.embedding.weight) * scale)

    def score_map(self, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Return ``X_ij . C_s`` as (B, 1, h, w)."""
        selector = self.embedding(classes).to(features.dtype)  # (B, C)
        return torch.einsum("bchw,bc->bhw", features, selector).unsqueeze(1)

    def forward(self, features: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the filtered features (B, C, h, w) and the class scores ``max_ij X_ij . C_s`` (B,)."""
        scores = self.score_map(features, classes)
        filtered = features * torch.sigmoid(scores)
        return filtered, scores.flatten(1).amax(dim=1)
