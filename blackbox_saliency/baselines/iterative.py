"""The paper's iterative baseline: optimise one mask per image on the saliency objective.

Each image gets a low-resolution mask ``sigmoid(logits)`` (default 28 x 28,
smaller for small images) optimised with Adam for ``steps`` steps on
:class:`~blackbox_saliency.objective.SaliencyObjective` (the same objective a
masking model is trained on), with a new alternative image drawn by the
evidence remover at every step. The batch is optimised at once; because the
objective is a sum of per-image terms and Adam works element-wise, this is
exactly per-image optimisation. Runs are reproducible: the remover's random
draws come from a generator seeded with ``seed``.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from blackbox_saliency.interfaces import BlackBoxClassifier
    >>> from blackbox_saliency.baselines.iterative import IterativeMasker
    >>> net = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4)), (16, 16), list("abcd"))
    >>> result = IterativeMasker(net, steps=5).optimise(torch.rand(2, 3, 16, 16), torch.tensor([0, 3]))
    >>> result.masks.shape, result.history.shape
    (torch.Size([2, 1, 4, 4]), torch.Size([5, 2]))
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import InputError
from ..evidence.blend import upsample_mask
from ..interfaces import EvidenceRemover
from ..objective import SaliencyObjective
from .base import ClassifierMasker

__all__ = ["IterativeMasker", "IterativeResult", "default_resolution"]


class IterativeResult(NamedTuple):
    """Low-resolution masks (B, 1, h, w) in [0, 1] and the objective per step and image (steps, B)."""

    masks: torch.Tensor
    history: torch.Tensor


def default_resolution(height: int, width: int, cap: int = 28) -> int:
    """Mask side used when none is given: ``cap`` (28) for photos, a quarter of the shorter side for small images."""
    return max(1, min(cap, math.ceil(min(height, width) / 4)))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class IterativeMasker(ClassifierMasker):
    """Per-image mask optimisation (several hundred Adam steps per batch).

    Args:
        classifier: the black box.
        steps: Adam steps (default 300).
        resolution: side of the square low-resolution mask; ``None`` uses :func:`default_resolution`.
        lr: Adam learning rate on the mask logits.
        init: initial mask value in (0, 1).
        remover: evidence remover (name or instance); default ``"paper"``.
        seed: seed of the remover's random draws.
        progress: show a tqdm bar over the steps.
        **objective_kwargs: forwarded to :class:`SaliencyObjective` (``tv_coef``, ``area_coef``, ``variant``...).
    """

    method = "iterative"

    def __init__(  # noqa: PLR0913 - public baseline: each keyword is a documented option of the optimisation
        self,
        classifier: nn.Module,
        steps: int = 300,
        resolution: int | None = None,
        lr: float = 0.3,
        init: float = 0.5,
        remover: str | EvidenceRemover = "paper",
        seed: int = 0,
        progress: bool = False,
        **objective_kwargs: object,
    ) -> None:
        super().__init__(classifier)
        if int(steps) < 1:
            raise InputError(f"`steps` must be >= 1, got {steps}.")
        if resolution is not None and int(resolution) < 1:
            raise InputError(f"`resolution` must be >= 1 (mask side in pixels), got {resolution}.")
        if not 0.0 < float(init) < 1.0:
            raise InputError(f"`init` must lie strictly between 0 and 1, got {init}.")
        if float(lr) <= 0:
            raise InputError(f"`lr` must be > 0, got {lr}.")
        if isinstance(remover, str):
            from ..plugins import load_evidence_remover

            remover = load_evidence_remover(remover)
        self.steps = int(steps)
        self.resolution = None if resolution is None else int(resolution)
        self.lr = float(lr)
        self.init = float(init)
        self.seed = int(seed)
        self.progress = bool(progress)
        self.objective = SaliencyObjective(self.classifier, remover=remover, **objective_kwargs)
        self.last_history: torch.Tensor | None = None

    def optimise(self, images: torch.Tensor, classes: torch.Tensor) -> IterativeResult:
        """Optimise the masks of a batch; returns the low-resolution masks and the objective history."""
        b, _, h, w = images.shape
        side = self.resolution or default_resolution(h, w)
        images = images.detach()
        logits = torch.full(
            (b, 1, side, side), _logit(self.init), dtype=images.dtype, device=images.device, requires_grad=True
        )
        optimiser = torch.optim.Adam([logits], lr=self.lr)
        generator = torch.Generator(device=images.device).manual_seed(self.seed)
        history = torch.empty(self.steps, b, dtype=images.dtype, device=images.device)
        with torch.enable_grad():
            for step in tqdm(range(self.steps), desc="iterative", disable=not self.progress, leave=False):
                terms = self.objective(images, torch.sigmoid(logits), classes, generator=generator)
                (grad,) = torch.autograd.grad(terms.total.sum(), logits)
                optimiser.zero_grad(set_to_none=True)
                logits.grad = grad
                optimiser.step()
                history[step] = terms.total.detach()
        self.last_history = history
        return IterativeResult(torch.sigmoid(logits.detach()), history)

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Return the optimised masks upsampled (bilinearly) to the images, (B, 1, H, W) in [0, 1]."""
        masks = self.optimise(images, classes).masks
        return upsample_mask(masks, tuple(images.shape[-2:])).clamp_(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, steps={self.steps}, resolution={self.resolution}, lr={self.lr}"
