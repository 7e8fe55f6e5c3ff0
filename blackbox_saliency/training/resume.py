"""A run's state in and out of ``out/checkpoint.pt``: :func:`save_checkpoint` writes it (the format is
:mod:`~blackbox_saliency.training.checkpointing`'s), :func:`restore` continues a run from it exactly.

Checkpoints of earlier versions keep working: one without the schedule's state gets the schedule replayed to its
step (:meth:`~blackbox_saliency.training.optimisation.Optimisation.restore_schedule`), one without a precision was
trained in fp32, one without RNG states for this number of processes restores the data order and the per-step
draws (which are seeded by the step) but not the global RNGs.

Example:
    >>> from blackbox_saliency.training.resume import resume_path
    >>> from pathlib import Path
    >>> resume_path("auto", Path("runs/c10")), resume_path("old/checkpoint.pt", Path("runs/c10"))
    (PosixPath('runs/c10/checkpoint.pt'), PosixPath('old/checkpoint.pt'))
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ..errors import InputError
from .checkpointing import (
    capture_rng_state,
    load_trainable_state,
    restore_rng_state,
    save_training_state,
    trainable_state,
)
from .parts import Run
from .run_folder import CHECKPOINT_NAME
from .validation import BestKeeper

__all__ = ["restore", "resume_path", "save_checkpoint"]


def resume_path(resume: str, out: Path) -> Path:
    """The checkpoint ``--resume`` names: ``out/checkpoint.pt`` for ``auto``, else the path given."""
    return out / CHECKPOINT_NAME if resume == "auto" else Path(resume).expanduser()


def save_checkpoint(run: Run) -> None:
    """Write ``out/checkpoint.pt`` (rank 0; the RNG states of every rank), after checking the losses since the last
    log line."""
    ctx, masker, progress, optimisation = run.ctx, run.parts.models.masker, run.progress, run.parts.optimisation
    if run.meter.count:
        run.meter.check_finite(progress.step, run.meter.count)
    ctx.broadcast_buffers(masker)
    rng_states = ctx.all_gather_object(capture_rng_state(ctx.device))
    if ctx.is_main:
        save_training_state(
            run.checkpoint_path,
            step=progress.step,
            epoch=progress.epoch,
            batch_in_epoch=progress.batch_in_epoch,
            config=run.folder.record.training_config,
            masker_config=dict(masker.config),
            masker_architecture=masker.architecture,
            masker_state=trainable_state(masker),
            optimizer=optimisation.optimizer.state_dict(),
            scheduler=optimisation.scheduler.state_dict(),
            rng=rng_states,
            world_size=ctx.world_size,
            metrics=progress.metrics,
            precision=run.parts.models.precision.name,
        )
    ctx.barrier()


def restore(run: Run, state: dict[str, Any], path: Path) -> None:
    """Continue from a training checkpoint: weights, optimiser, schedule, data position, metrics and RNG states."""
    models, progress, optimisation = run.parts.models, run.progress, run.parts.optimisation
    load_trainable_state(models.masker, state["masker_state"], str(path))
    optimisation.load_optimizer(state["optimizer"], path)
    saved_precision = state.get("precision", "fp32")
    if saved_precision != models.precision.name:
        raise InputError(
            f"the checkpoint {path} was trained in {saved_precision} but this run resolves to {models.precision.name} "
            f"({models.precision.reason}); resume with --precision {saved_precision} to continue it exactly, or start "
            f"a new run with --init-from {path}."
        )
    progress.step, progress.epoch = int(state["step"]), int(state["epoch"])
    progress.batch_in_epoch = int(state["batch_in_epoch"])
    optimisation.restore_schedule(state.get("scheduler"), state["config"].get("steps"), progress.step, path)
    progress.metrics = dict(state.get("metrics") or {})
    progress.best = BestKeeper.from_state(progress.best.metric, progress.metrics.get("best"))
    _restore_rng(run, state)


def _restore_rng(run: Run, state: dict[str, Any]) -> None:
    ctx = run.ctx
    rng = state.get("rng")
    if isinstance(rng, list) and int(state.get("world_size", 1)) == ctx.world_size and len(rng) == ctx.world_size:
        restore_rng_state(rng[ctx.rank], ctx.device)
    else:
        warnings.warn(
            f"the checkpoint was written by {state.get('world_size')} process(es), this run has {ctx.world_size}: "
            "the global RNG states are not restored (the data order and the per-step draws still are).",
            stacklevel=4,
        )
