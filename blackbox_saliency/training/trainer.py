"""Training the masking model against a black box (Dabkowski & Gal 2017, section 4.1): :func:`train`.

:func:`train` checks the config and the run folder, builds the run once from the config
(:mod:`~blackbox_saliency.training.builders`), continues a checkpoint when asked
(:mod:`~blackbox_saliency.training.resume`), runs the loop (:mod:`~blackbox_saliency.training.loop`) and writes
the trained masker and ``result.json`` (:mod:`~blackbox_saliency.training.run_folder`). The loss is the mean of
the objective's terms (:data:`~blackbox_saliency.objective.terms.TERMS`), logged by name in ``out/log.jsonl``
(:data:`LOSS_KEYS`). Under ``torchrun`` the masker trains with DistributedDataParallel; only rank 0 writes files.

Example:
    >>> from blackbox_saliency.training import TrainConfig, train
    >>> result = train(TrainConfig(classifier="cifar10_resnet20", data="cifar10/cifar10_train25k.npz",
    ...                            out="runs/c10", preset="fast", steps=200))  # doctest: +SKIP
    >>> result.masker_path  # doctest: +SKIP
    PosixPath('runs/c10/masker.pt')
    >>> from blackbox_saliency.training.trainer import LOSS_KEYS
    >>> LOSS_KEYS
    ('total', 'tv', 'area', 'preserve', 'destroy', 'crop', 'aux')
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import DataNotFoundError
from ..objective import ObjectiveTerms
from .builders import Given, build_parts
from .checkpointing import load_training_state
from .config import TrainConfig
from .data import ImageDataset
from .distributed import DistContext, setup_distributed
from .loop import train_loop, wrap_model
from .meter import JsonlLog, Meter
from .parts import Progress, Run
from .resume import restore, resume_path
from .run_folder import (
    BEST_NAME,
    CHECKPOINT_NAME,
    MASKER_NAME,
    Outcome,
    RunFolder,
    check_out_folder,
    check_resume,
    run_lock,
)
from .validation import BestKeeper

__all__ = ["TrainResult", "train", "BEST_NAME", "CHECKPOINT_NAME", "LOSS_KEYS", "MASKER_NAME"]

#: What ``log.jsonl`` logs under ``loss``: the loss (``total``) and every registered term of the objective by name.
LOSS_KEYS = ("total", *ObjectiveTerms.names())


@dataclass
class TrainResult:
    """What :func:`train` returns (paths are ``None`` on ranks other than 0).

    Attributes:
        masker_path: the trained masker (``load_masker(path)`` reads it).
        checkpoint_path: the last training checkpoint (``--resume`` continues from it).
        steps: optimisation steps done in total.
        metrics: final validation metrics (empty without validation data) and the last losses.
        images_per_s: training throughput over all processes (validation and checkpoints excluded).
        seconds: wall-clock time of this call.
        masker: the trained model (in eval mode).
        data_wait_share: share of the step time spent waiting for the data loader.
        precision: the precision the frozen networks ran in (``fp32``, ``bf16`` or ``fp16``).
    """

    masker_path: Path | None
    checkpoint_path: Path | None
    steps: int
    metrics: dict[str, Any]
    images_per_s: float
    seconds: float
    masker: nn.Module = field(repr=False)
    data_wait_share: float = float("nan")
    precision: str = "fp32"


def train(
    config: TrainConfig,
    *,
    classifier: nn.Module | None = None,
    masker: nn.Module | None = None,
    train_data: ImageDataset | None = None,
    val_data: ImageDataset | None = None,
) -> TrainResult:
    """Train a masker for a black-box classifier; see :class:`TrainConfig` for every option.

    Seeds the global RNGs (torch, numpy, python) with ``config.seed`` first. The objects
    ``classifier``, ``masker``, ``train_data`` and ``val_data`` replace what the config
    names (``config.classifier``, a new masker of ``config.masker``, ``config.data``, ``config.val_data``), e.g.
    for a custom black box; a given masker is trained as it is (``embedding_init`` is not applied).
    The trained masker is written to ``out/masker.pt``, the training state to
    ``out/checkpoint.pt`` (every ``checkpoint_every`` steps and at the end), logs to ``out/log.jsonl``.

    Raises:
        InputError: bad option, unusable data or labels, or a diverging loss.
        PluginError: unknown classifier, masker architecture, encoder or remover name.
        DataNotFoundError: the data path does not exist.
        CheckpointError: ``resume`` names a missing, corrupt or incompatible checkpoint.
    """
    started = time.perf_counter()
    config.validate()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    for name, paths, given in (("data", config.data_paths(), train_data), ("val_data", [config.val_data], val_data)):
        for path in paths:
            if given is None and path and not Path(path).expanduser().exists():
                raise DataNotFoundError(f"{name} path {path} does not exist; pass an .npz file or a folder of images.")
    out = Path(config.out).expanduser()
    check_out_folder(out, config.resume, config.overwrite)
    resumed = None
    if config.resume:
        path = resume_path(config.resume, out)
        resumed = (load_training_state(path), path)
        check_resume(config, resumed[0]["config"], path)
    ctx = setup_distributed(config.device)
    try:
        return _train(config, ctx, Given(classifier, masker, train_data, val_data), resumed, started)
    finally:
        ctx.close()


def build_run(config: TrainConfig, ctx: DistContext, given: Given) -> Run:
    """A run at step 0: its parts built from the config, its folder, log and meter."""
    parts = build_parts(config, ctx, given)
    out = Path(config.out).expanduser()
    log = JsonlLog(out / "log.jsonl" if ctx.is_main else None)
    meter = Meter.for_terms(parts.models.objective.names, ctx.device)
    return Run(parts, ctx, RunFolder(out, ctx.is_main, parts.record), log, meter,
               Progress(BestKeeper(parts.validation.select_metric)))


def _train(config: TrainConfig, ctx: DistContext, given: Given, resumed: tuple[dict[str, Any], Path] | None,
           started: float) -> TrainResult:
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    random.seed(config.seed)
    run = build_run(config, ctx, given)
    out = run.folder.out
    with run_lock(out, ctx.is_main):
        # again, under the lock: a run started beside this one may have finished meanwhile
        check_out_folder(out, config.resume, config.overwrite)
        if resumed is not None:
            restore(run, *resumed)
        run.model = wrap_model(run.parts.models, ctx)
        run.folder.prepare(fresh=resumed is None)
        train_loop(run)
        return _finish(run, started)


def _finish(run: Run, started: float) -> TrainResult:
    """Write masker.pt and result.json (rank 0) and return the result."""
    masker, progress, ctx = run.parts.models.masker, run.progress, run.ctx
    masker.eval()
    images_per_s, data_wait_share = run.meter.rates()
    final = {**progress.metrics, **{f"train_{k}": v for k, v in run.meter.last_losses.items()}}
    masker_path = None
    if ctx.is_main:
        outcome = Outcome(progress.step, ctx.world_size, str(ctx.device), images_per_s, data_wait_share,
                          run.parts.models.precision.name, final, progress.best)
        masker_path = run.folder.write_outputs(masker, outcome)
    ctx.barrier()
    return TrainResult(
        masker_path=masker_path,
        checkpoint_path=run.checkpoint_path if ctx.is_main else None,
        steps=progress.step,
        metrics=final,
        images_per_s=images_per_s,
        seconds=time.perf_counter() - started,
        masker=masker,
        data_wait_share=data_wait_share,
        precision=run.parts.models.precision.name,
    )
