"""The class-selective feature filter of the masking model (Dabkowski & Gal 2017, section 4).

For the coarsest feature map ``X`` (B, C, h, w) and a learned class embedding
``C_s`` (one C-vector per class), the filter keeps the locations whose features
agree with the selected class::

    Y_ij = X_ij * sigmoid(X_ij . C_s)

It also returns ``max_ij X_ij . C_s`` per image: the paper trains the embedding
much faster when that score is pushed up for the true class and down for a fake
one (the trainer adds that auxiliary term).

``mode="relative"`` (our extension) gates with the selected class's score *relative to all
classes* at that location, ``X_ij . C_s - logsumexp_k(X_ij . C_k) + log K``: the log-probability
of class ``s`` under a per-location classifier, shifted so that a uniform vote gives 0. With the
embedding initialised from a pretrained head, the paper's absolute score is large for the true
*and* for a random fake class (EfficientNet-Lite0 on ImageNet: max scores of about 20-37 against
-1-10), so ``sigmoid`` saturates for both and the mask cannot depend on the class; the relative
score is about ``+log K`` where the location votes for ``s`` and strongly negative where it votes
for another class, so the gate is class-selective from the first step.

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

__all__ = ["FeatureFilter", "FILTER_MODES"]

FILTER_MODES = ("paper", "relative")


class FeatureFilter(nn.Module):
    """``Y = X * sigmoid(score)`` with a learned class embedding ``C`` (``nn.Embedding``).

    ``score`` is ``X . C_s`` (``mode="paper"``) or its class-relative form (``mode="relative"``, see
    the module docstring).
    """

    def __init__(self, num_classes: int, channels: int, init_std: float = 1.0, mode: str = "paper") -> None:
        super().__init__()
        if num_classes < 1 or channels < 1:
            raise InputError(
                f"FeatureFilter needs num_classes >= 1 and channels >= 1, got {num_classes} and {channels}."
            )
        if mode not in FILTER_MODES:
            raise InputError(f"feature filter `mode` must be one of {FILTER_MODES}, got {mode!r}.")
        self.mode = mode
        self.log_num_classes = math.log(num_classes)
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
            raise InputError(
                f"embedding init weight must have shape {expected} (num_classes, coarsest channels), got {shape}."
            )
        with torch.no_grad():
            self.embedding.weight.copy_(weight.to(self.embedding.weight) * scale)

    def score_map(self, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Return the gate's score as (B, 1, h, w): ``X_ij . C_s``, or its class-relative form."""
        selector = self.embedding(classes).to(features.dtype)  # (B, C)
        scores = torch.einsum("bchw,bc->bhw", features, selector).unsqueeze(1)
        if self.mode == "relative":
            every = torch.einsum("bchw,kc->bkhw", features, self.embedding.weight.to(features.dtype))
            scores = scores - torch.logsumexp(every, dim=1, keepdim=True) + self.log_num_classes
        return scores

    def forward(self, features: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the filtered features (B, C, h, w) and the class scores ``max_ij score_ij`` (B,)."""
        filtered, _, scores = self.forward_with_gate(features, classes)
        return filtered, scores

    def forward_with_gate(
        self, features: torch.Tensor, classes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like :meth:`forward`, also returning the gate ``sigmoid(score)`` (B, 1, h, w) itself."""
        scores = self.score_map(features, classes)
        gate = torch.sigmoid(scores)
        return features * gate, gate, scores.flatten(1).amax(dim=1)
