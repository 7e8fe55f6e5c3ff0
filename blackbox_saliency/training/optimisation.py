"""The optimiser and its learning-rate schedule: AdamW on the masker's trainable parameters, one optimisation step
(with the fp16 gradient scaler and gradient clipping), and the schedule restored (or replayed) on resume.

The rate of step ``s`` (from 0) is ``lr * w(s) * c(s)``: the linear warm-up ``w(s) = (s + 1) / warmup_steps``
for ``s < warmup_steps`` (else 1) times, with ``schedule="cosine"``, ``c(s) = (1 + cos(pi * s / steps)) / 2``.

Example:
    >>> import torch
    >>> from blackbox_saliency.training.optimisation import LRPlan, Optimisation
    >>> weight = torch.nn.Parameter(torch.zeros(1))
    >>> optimisation = Optimisation.adamw([weight], LRPlan(lr=0.1, schedule="cosine", warmup_steps=0, steps=2))
    >>> optimisation.step((weight - 1).pow(2).sum())
    >>> round(optimisation.lr, 3), round(weight.item(), 3)  # the second step's rate, the weight after the first
    (0.05, 0.1)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.lr_scheduler import ChainedScheduler, ConstantLR, CosineAnnealingLR, LinearLR, LRScheduler

from ..errors import CheckpointError

__all__ = ["LRPlan", "Optimisation", "lr_scheduler"]


@dataclass(frozen=True)
class LRPlan:
    """The learning rate: ``lr``, ``schedule`` (``constant`` or ``cosine`` over ``steps``) and ``warmup_steps``."""

    lr: float
    schedule: str
    warmup_steps: int
    steps: int


def lr_scheduler(optimizer: torch.optim.Optimizer, plan: LRPlan) -> ChainedScheduler:
    """The learning-rate schedule of ``plan``, stepped once after every optimisation step."""
    parts: list[LRScheduler] = []
    if plan.warmup_steps > 1:  # one warm-up step is the full rate already
        parts.append(LinearLR(optimizer, start_factor=1.0 / plan.warmup_steps, total_iters=plan.warmup_steps - 1))
    if plan.schedule == "cosine":
        parts.append(CosineAnnealingLR(optimizer, T_max=plan.steps))
    if not parts:
        parts.append(ConstantLR(optimizer, factor=1.0, total_iters=0))
    return ChainedScheduler(parts, optimizer=optimizer)


@dataclass
class Optimisation:
    """The optimiser over ``params``, its schedule, and how a step treats the gradients (scaler, clipping)."""

    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    plan: LRPlan
    grad_clip: float = 0.0  # max gradient norm, 0 = off
    scaler: torch.amp.GradScaler | None = None  # fp16 only

    @classmethod
    def adamw(cls, params: list[nn.Parameter], plan: LRPlan, weight_decay: float = 0.0, grad_clip: float = 0.0,
              scaler: torch.amp.GradScaler | None = None) -> Optimisation:
        """AdamW over ``params`` with the schedule of ``plan``."""
        optimizer = torch.optim.AdamW(params, lr=plan.lr, weight_decay=weight_decay)
        return cls(params, optimizer, lr_scheduler(optimizer, plan), plan, grad_clip, scaler)

    @property
    def lr(self) -> float:
        """The rate the next step uses."""
        return self.optimizer.param_groups[0]["lr"]

    def step(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss``, update the parameters and advance the schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()

    def load_optimizer(self, state: dict, path: object) -> None:
        """The optimiser state of a checkpoint (CheckpointError when it does not fit these parameters)."""
        try:
            self.optimizer.load_state_dict(state)
        except (ValueError, KeyError, RuntimeError) as error:
            raise CheckpointError(f"the optimiser state in {path} does not fit this masker: {error}") from error

    def restore_schedule(self, saved: object, saved_steps: object, step: int, path: object) -> None:
        """The schedule's saved state; without one (older checkpoints), or when ``steps`` (the cosine's length)
        changed, a new schedule stepped to ``step`` (the rate is a function of the step and the plan)."""
        if isinstance(saved, dict) and saved_steps == self.plan.steps:
            try:
                self.scheduler.load_state_dict(saved)
            except (ValueError, KeyError, TypeError, IndexError) as error:
                raise CheckpointError(f"the learning-rate schedule in {path} does not fit this run: {error}") from error
            return
        for group in self.optimizer.param_groups:
            group["lr"] = self.plan.lr
        self.scheduler = lr_scheduler(self.optimizer, self.plan)
        with warnings.catch_warnings():
            # "lr_scheduler.step() before optimizer.step()": only the rate is replayed
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(step):
                self.scheduler.step()
