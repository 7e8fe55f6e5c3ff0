"""What a training run is made of, as the loop, the validation and the checkpoints use it.

:func:`~blackbox_saliency.training.builders.build_parts` builds these from the config (the one place that reads
it); each part holds what one job needs: :class:`Models` (the networks), :class:`Feed` (the training batches),
:class:`Draws` (the per-step random draws), :class:`Schedule` (when to log, validate, checkpoint),
:class:`ValidationPlan`, and the run's :class:`Progress`. :class:`Run` joins them while it trains.

Example:
    >>> import torch
    >>> from blackbox_saliency.training.parts import Draws
    >>> draws = Draws(seed=0, fake_prob=0.5, num_classes=10, rank=0, device=torch.device("cpu"))
    >>> selectors, fake = draws.selectors(torch.tensor([3, 3, 3, 3]), step=0)
    >>> bool(((selectors == 3) == ~fake).all())  # a fake selector is another class
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..evaluation.datasets import EvalDataset
from ..interfaces import BlackBoxClassifier, TrainableMasker
from ..objective import SaliencyObjective
from .data import ImageDataset
from .distributed import DistContext
from .labels import Labels
from .meter import JsonlLog, Meter
from .optimisation import Optimisation
from .precision import PrecisionChoice
from .run_folder import RunFolder, RunRecord
from .sampler import ResumableBatchSampler, derive_seed
from .validation import BestKeeper

__all__ = ["Draws", "Feed", "Models", "Parts", "Progress", "Run", "Schedule", "ValidationPlan"]


@dataclass
class Feed:
    """The training batches: the data, their labels, and the resumable sampler and loader over them."""

    data: ImageDataset
    labels: Labels
    sampler: ResumableBatchSampler
    loader: DataLoader


@dataclass
class ValidationPlan:
    """What a validation runs on: ``limit`` images of ``data`` in batches of ``batch_size``, explaining ``target``."""

    data: EvalDataset | None
    target: str
    limit: int
    batch_size: int
    select_metric: str  # the column that picks best.pt


@dataclass
class Parts:
    """Everything :func:`build_parts` builds for a run."""

    models: Models
    feed: Feed
    optimisation: Optimisation
    draws: Draws
    schedule: Schedule
    validation: ValidationPlan
    record: RunRecord


@dataclass
class Models:
    """The networks of a run: the frozen black box, the masker (its frozen modules kept in eval mode by
    ``TrainableMasker.train``), the objective, and how the masker's forward runs (precision, channels-last,
    ``torch.compile``)."""

    classifier: BlackBoxClassifier
    masker: TrainableMasker
    objective: SaliencyObjective
    precision: PrecisionChoice
    channels_last: bool
    compile: bool = False


@dataclass
class Schedule:
    """When the loop stops, logs, validates and checkpoints (0: only at the end)."""

    steps: int
    log_every: int
    val_every: int
    checkpoint_every: int
    progress: bool  # a progress bar and console lines


@dataclass
class Draws:
    """The per-step random draws, from generators seeded with ``(seed, step, rank)``: the fake selectors (on the
    host: picking the real images then needs no device sync) and the objective's alternative images."""

    seed: int
    fake_prob: float
    num_classes: int
    rank: int
    device: torch.device
    host: torch.Generator = field(default_factory=torch.Generator, repr=False)
    objective: torch.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.objective = torch.Generator(device=self.device)

    def selectors(self, labels: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Class selectors for ``labels`` and which of them are fake (a random other class); ``fake`` stays on
        the CPU."""
        batch = labels.shape[0]
        self.host.manual_seed(derive_seed(self.seed, 1, step, self.rank))
        fake = torch.rand(batch, generator=self.host) < self.fake_prob
        if self.num_classes < 2:
            return labels, fake
        offset = torch.randint(1, self.num_classes, (batch,), generator=self.host)
        offset = torch.where(fake, offset, torch.zeros_like(offset)).to(labels.device, non_blocking=True)
        return (labels + offset) % self.num_classes, fake

    def objective_generator(self, step: int) -> torch.Generator:
        """The generator of the objective's draws at ``step``."""
        return self.objective.manual_seed(derive_seed(self.seed, 2, step, self.rank))


@dataclass
class Progress:
    """Where a run stands, as its checkpoint stores it: the step, the data position, the last metrics and the best."""

    best: BestKeeper
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """One training run while it trains: its built parts, where it writes and reports, and its progress."""

    parts: Parts
    ctx: DistContext
    folder: RunFolder
    log: JsonlLog
    meter: Meter
    progress: Progress
    model: nn.Module | None = None  # what a step calls (see wrap_model)
    baseline: dict[str, Any] | None = None  # the validation baselines' rows, computed once
    images_checked: bool = False

    @property
    def checkpoint_path(self) -> Path:
        return self.folder.checkpoint_path
