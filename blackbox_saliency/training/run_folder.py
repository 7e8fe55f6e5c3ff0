"""The run folder ``out``: when a run may write there, the lock it holds meanwhile, and the files it writes.

* :func:`check_out_folder` refuses an ``out`` that is a file, or that holds a run, unless told to resume or
  overwrite it; :func:`run_lock` holds ``out/.lock`` while a run writes; :func:`check_resume` refuses a
  resume whose settings differ from the checkpoint's.
* :class:`RunFolder` writes ``config.json``, the maskers (``masker.pt``, ``best.pt``) with the run's
  metadata (:class:`RunRecord`), and ``result.json``; ``checkpoint.pt`` is
  :mod:`~blackbox_saliency.training.resume`'s and ``log.jsonl`` the
  :class:`~blackbox_saliency.training.meter.JsonlLog`'s.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from blackbox_saliency.training.run_folder import check_out_folder
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> check_out_folder(out, resume=None, overwrite=False)  # a new folder: fine
    >>> (out.mkdir(), (out / "masker.pt").write_bytes(b"x"))[1]
    1
    >>> check_out_folder(out, resume=None, overwrite=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    blackbox_saliency.errors.InputError: --out ... already holds a run (masker.pt); pass --resume to continue it, ...
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from ..atomic import atomic_write_text, check_writable_folder
from ..devices import evaluating
from ..errors import CheckpointError, InputError
from .config import TrainConfig
from .validation import BestKeeper

__all__ = [
    "BEST_NAME",
    "CHECKPOINT_NAME",
    "MASKER_NAME",
    "RUN_FILES",
    "Outcome",
    "RunFolder",
    "RunRecord",
    "check_out_folder",
    "check_resume",
    "run_lock",
]

CHECKPOINT_NAME = "checkpoint.pt"
MASKER_NAME = "masker.pt"
BEST_NAME = "best.pt"  # the masker of the best validation so far (by ``select_metric``)
RUN_FILES = (CHECKPOINT_NAME, MASKER_NAME, BEST_NAME, "log.jsonl", "result.json")


def check_out_folder(out: Path, resume: str | None, overwrite: bool) -> None:
    """Refuse an ``out`` that is a file, or that holds a run, unless told to ``resume`` or ``overwrite`` it."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file, not a folder; pass a folder for the run's checkpoint, "
                         "masker and log.")
    if overwrite or not out.is_dir():
        check_writable_folder(out, "--out")  # before the data, the models and the first step
        return
    held = ", ".join(name for name in RUN_FILES if (out / name).exists())
    other = resume not in (None, "auto") and Path(resume).expanduser().is_file()  # a missing one is reported on loading
    if held and other and Path(resume).expanduser().resolve() != (out / CHECKPOINT_NAME).resolve():
        raise InputError(
            f"--resume {resume} continues another run, but --out {out} already holds a run ({held}) that it would "
            "replace; resume it into an empty --out folder (or its own folder), or resume the run in "
            f"{out} with --resume. Nothing was changed."
        )
    if held and not resume:
        raise InputError(
            f"--out {out} already holds a run ({held}); pass --resume to continue it, --overwrite to start "
            "anew and replace it, or another --out folder. Nothing was changed."
        )
    check_writable_folder(out, "--out")


@contextlib.contextmanager
def run_lock(out: Path, is_main: bool) -> Iterator[None]:
    """Hold ``out/.lock`` (an OS file lock, released even if the process is killed) while the run writes to ``out``."""
    if not is_main or fcntl is None:  # other ranks write nothing; without fcntl (Windows) the folder is not locked
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another training run is writing to --out {out} right now; wait for it, or pass "
                             "another --out folder. Nothing was changed.") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_resume(config: TrainConfig, saved_config: object, path: Path) -> None:
    """Refuse to resume the checkpoint at ``path`` (whose stored config is ``saved_config``) with other settings."""
    try:
        saved = TrainConfig.from_dict(saved_config).validate()
    except (InputError, TypeError) as error:
        raise CheckpointError(f"the training config stored in {path} is damaged or cannot be read by this version: "
                              f"{error}") from error
    diffs = config.differences(saved)
    if diffs:
        listed = "; ".join(f"{k}: now {a!r}, checkpoint {b!r}" for k, (a, b) in sorted(diffs.items()))
        raise InputError(
            f"--resume with settings that differ from the checkpoint's ({listed}); resume with the original command "
            "(only steps, out, device, workers, threads, logging, validation and checkpoint frequency may change)."
        )
    if saved.steps != config.steps and config.lr_schedule == "cosine":
        warnings.warn(f"resuming with steps={config.steps} instead of {saved.steps}: the cosine schedule changes from "
                      "here on.", stacklevel=3)


@dataclass
class RunRecord:
    """Where a run's masker came from, as its ``masker.pt`` metadata says."""

    classifier: str
    encoder: str | None  # the config's (the masker's own config names it when it has one)
    data: str
    val_data: str | None
    labels: str
    command_line: str
    training_config: dict[str, Any]


@dataclass
class Outcome:
    """How a run ended: its step count, throughput and metrics, for ``masker.pt`` and ``result.json``."""

    steps: int
    world_size: int
    device: str
    images_per_s: float
    data_wait_share: float
    precision: str
    metrics: dict[str, Any]
    best: BestKeeper | None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass
class RunFolder:
    """The files a run writes in ``out`` (only the main process writes: elsewhere nothing is)."""

    out: Path
    is_main: bool
    record: RunRecord

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_NAME

    def prepare(self, fresh: bool) -> None:
        """Create ``out`` with the run's config.json; a fresh run starts a fresh folder."""
        if not self.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(self.record.training_config, indent=2) + "\n", self.out / "config.json")
        if fresh:  # reached with --overwrite when a run was there: its files go now, so a killed new run leaves no mix
            for name in RUN_FILES:
                (self.out / name).unlink(missing_ok=True)

    def write_masker(self, masker: nn.Module, name: str, step: int, metadata: dict[str, Any]) -> Path:
        """``out/name``: the masker as it is now (in eval mode), with the run's ``metadata``, written atomically."""
        from ..maskers.checkpoint import save_masker

        record = self.record
        with evaluating(masker):
            return save_masker(self.out / name, masker, {"step": step, "classifier": record.classifier,
                                                         "training_config": record.training_config, **metadata})

    def write_outputs(self, masker: nn.Module, outcome: Outcome) -> Path:
        """``out/masker.pt`` with the run's metadata, and ``out/result.json``; returns the masker's path."""
        record, best = self.record, outcome.best
        metadata = {
            "classifier": record.classifier,
            "encoder": getattr(masker, "config", {}).get("encoder", record.encoder),
            "data": record.data,
            "val_data": record.val_data,
            "labels": record.labels,
            "steps": outcome.steps,
            "world_size": outcome.world_size,
            "device": outcome.device,
            "images_per_s": _finite(outcome.images_per_s),
            "data_wait_share": _finite(outcome.data_wait_share),
            "precision": outcome.precision,
            "final_metrics": {k: v for k, v in outcome.metrics.items()
                              if isinstance(v, (int, float)) and math.isfinite(v)},
            "best": best.state() if best is not None else None,
            "command_line": record.command_line,
            "training_config": record.training_config,
        }
        masker_path = self.write_masker(masker, MASKER_NAME, outcome.steps, metadata)
        kept = None if best is None or best.value is None else {**best.state(), "masker": str(self.out / BEST_NAME)}
        summary = {"steps": outcome.steps, "images_per_s": metadata["images_per_s"],
                   "data_wait_share": metadata["data_wait_share"], "precision": outcome.precision,
                   "metrics": metadata["final_metrics"], "masker": str(masker_path),
                   "checkpoint": str(self.checkpoint_path), "best": kept}
        atomic_write_text(json.dumps(summary, indent=2) + "\n", self.out / "result.json")
        return masker_path
