"""A black box that stays frozen: eval mode, no parameter gradients.

The saliency objective treats the classifier as fixed. If a training loop calls
``.train()`` on a module that contains the classifier, batch-norm statistics
would silently drift; :class:`FrozenBlackBox` keeps the wrapped network in eval
mode whatever ``train()`` is called with. Gradients still flow to the *input*.
Call :meth:`FrozenBlackBox.unfreeze` to fine-tune the network on purpose.

Inputs of another float dtype than the network (e.g. float64 images for a
float32 network) are cast for the network and the logits cast back, so the
output has the caller's dtype and device.

Calls also check the *range* of the input (the base class checks shape and
dtype only): NaN, or values outside [0, 1] by more than ``RANGE_TOLERANCE``
(normalised or 0..255 images), raise InputError. The tolerance lets rounding
of composites such as ``x*m + a*(1-m)`` through. Like every input check it is
skipped inside :func:`~blackbox_saliency.input_checks.skip_input_checks` (hot
loops: it costs one reduction, and a host sync on GPU).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from blackbox_saliency.classifiers.frozen import FrozenBlackBox
    >>> box = FrozenBlackBox(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), (2, 2), ["a", "b"])
    >>> _ = box.train()
    >>> box.network.training, next(box.parameters()).requires_grad
    (False, False)
"""

from __future__ import annotations

import torch

from ..errors import InputError
from ..input_checks import RANGE_TOLERANCE, check_classifier_images
from ..interfaces import BlackBoxClassifier

__all__ = ["FrozenBlackBox", "RANGE_TOLERANCE"]

"""How far outside [0, 1] input values may stray (rounding) before a call is rejected."""


class FrozenBlackBox(BlackBoxClassifier):
    """:class:`~blackbox_saliency.interfaces.BlackBoxClassifier` whose network is frozen (see module doc)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.frozen = True
        self.network.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FrozenBlackBox":
        super().train(mode)
        if self.frozen:
            self.network.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return logits (B, num_classes) for images (B, 3, H, W) in [0, 1]."""
        check_classifier_images(images)
        param = next(self.network.parameters(), None)
        if param is None:
            return self.network(self.preprocess(images))
        if param.device != images.device:
            raise InputError(
                f"`images` are on {images.device} but the classifier is on {param.device}; "
                f"move one of them, e.g. classifier.to({str(images.device)!r})."
            )
        inputs = self.preprocess(images)
        if inputs.dtype == param.dtype:
            return self.network(inputs)
        # run the network in its own dtype and hand logits back in the caller's dtype (gradients flow through)
        return self.network(inputs.to(param.dtype)).to(images.dtype)

    def unfreeze(self) -> "FrozenBlackBox":
        """Allow training: parameters get gradients and ``train()`` reaches the network again."""
        self.frozen = False
        self.network.requires_grad_(True)
        return self
