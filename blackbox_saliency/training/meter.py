"""What a run reports while it trains: the running losses by term name (:class:`Meter`), the step timing and
throughput, and the lines of ``out/log.jsonl`` (:class:`JsonlLog`) and of the console.

The logged losses are ``total`` (the loss optimised) and every term of the objective by its name
(:attr:`SaliencyObjective.names <blackbox_saliency.objective.SaliencyObjective.names>`): a term added to the
objective is logged without any change here.

Example:
    >>> import torch
    >>> from blackbox_saliency.objective import ObjectiveTerms
    >>> from blackbox_saliency.training.meter import Meter
    >>> meter = Meter.for_terms(("tv", "area"))
    >>> values = {"tv": torch.tensor([1.0, 3.0]), "area": torch.tensor([0.5, 0.5])}
    >>> terms = ObjectiveTerms(values, torch.tensor([1.5, 3.5]))
    >>> meter.add(torch.tensor(2.5), terms)
    >>> meter.flush()
    {'total': 2.5, 'tv': 2.0, 'area': 0.5}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..objective import ObjectiveTerms

__all__ = ["JsonlLog", "Meter", "validation_line"]


class JsonlLog:
    """JSON lines appended to ``path`` (None: written nowhere, as on ranks other than 0)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


@dataclass
class Meter:
    """Running sums of the logged losses (``keys``: ``total`` and the terms' names), the rate of the last step,
    and the step timing of this process."""

    keys: tuple[str, ...]
    running: torch.Tensor  # sums of the keys' losses since the last log line
    count: int = 0
    last_losses: dict[str, float] = field(default_factory=dict)
    lr: float = float("nan")
    train_seconds: float = 0.0  # validation, checkpoints and the first step (one-off warm-up costs) excluded
    data_seconds: float = 0.0
    images: int = 0  # over all processes
    start_step: int = 0

    @classmethod
    def for_terms(cls, names: tuple[str, ...], device: torch.device | str = "cpu") -> Meter:
        """A meter of ``total`` and the terms ``names`` (what the run's objective computes)."""
        keys = ("total", *names)
        return cls(keys, torch.zeros(len(keys), device=device))

    def add(self, loss: torch.Tensor, terms: ObjectiveTerms) -> None:
        """Add a step's loss and the batch means of its terms (no host sync)."""
        with torch.no_grad():
            self.running += torch.stack([loss.detach(), *(terms[name].mean() for name in self.keys[1:])])
        self.count += 1

    def flush(self) -> dict[str, float]:
        """The mean losses since the last call (one host sync), which start anew."""
        self.last_losses = dict(zip(self.keys, (self.running / self.count).tolist()))
        self.running.zero_()
        self.count = 0
        return self.last_losses

    def time_step(self, step: int, steps: int, started: float, waited: float, images: int) -> None:
        """Count a step that began at ``started`` (``perf_counter``) and waited ``waited`` s for ``images`` images
        (over all processes); the first step of a call pays one-off warm-up costs and counts only when it is the
        only one."""
        if step > self.start_step + 1 or steps - self.start_step == 1:
            self.train_seconds += time.perf_counter() - started
            self.data_seconds += waited
            self.images += images

    def rates(self) -> tuple[float, float]:
        """Images per second over all processes, and the share of the step time spent waiting for data."""
        if self.train_seconds <= 0:
            return float("nan"), float("nan")
        return self.images / self.train_seconds, self.data_seconds / self.train_seconds

    def check_finite(self, step: int, window: int) -> None:
        """Raise when a loss of the last ``window`` steps was not finite (one host sync per logging step)."""
        if not bool(torch.isfinite(self.running).all()):
            raise InputError(
                f"the training loss became non-finite between steps {max(0, step - window)} and {step}; lower --lr, "
                "enable --grad-clip or use --precision fp32 (the last checkpoint before it is intact; resume from it)."
            )


def validation_line(step: int, result: dict[str, Any], center: dict[str, Any], improved: bool) -> str:
    """The console line of a validation: the masker's numbers beside the central box's."""
    def loc(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    return (f"step {step}: val saliency {result['saliency']:.4f} (central box {center['saliency']:.4f}), "
            f"log area {result['log_area']:.3f}, loc. error alpha*mean {loc(result['loc_error_paper'])}, "
            f"CASM {loc(result['loc_error_casm'])}" + (" [new best]" if improved else ""))
