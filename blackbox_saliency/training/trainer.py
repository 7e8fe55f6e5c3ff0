"""Training the masking model against a black box (Dabkowski & Gal 2017, section 4.1).

Per step: a batch of images with their labels (from the data set, or the black box's own top-1);
with probability ``fake_prob`` a sample gets a *fake* class selector (a random other class) for
which only the area term applies; the alternative image is drawn anew; the loss is the mean of
:class:`~blackbox_saliency.objective.SaliencyObjective`'s total plus ``aux_coef`` times the binary
cross-entropy pushing the masker's class score up for true selectors and down for fake ones. Only
the decoder and the class embedding learn; the encoder and the classifier stay frozen.

Reproducibility: every random draw of a step comes from a generator seeded with
``(seed, step, rank)``, and every augmentation from ``(seed, epoch, index)``, so a run resumed from
a checkpoint continues exactly like an uninterrupted one. Under ``torchrun`` the masker trains with
DistributedDataParallel; only rank 0 writes files.

Example:
    >>> from blackbox_saliency.training import TrainConfig, train
    >>> result = train(TrainConfig(classifier="cifar10_resnet20", data="cifar10/cifar10_train25k.npz",
    ...                            out="runs/c10", preset="fast", steps=200))  # doctest: +SKIP
    >>> result.masker_path  # doctest: +SKIP
    PosixPath('runs/c10/masker.pt')
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shlex
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import ChainedScheduler, ConstantLR, CosineAnnealingLR, LinearLR, LRScheduler
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import atomic_write_text, check_writable_folder
from ..input_checks import check_images, skip_input_checks
from ..errors import CheckpointError, DataNotFoundError, InputError
from ..evaluation.datasets import EvalDataset
from ..interfaces import BlackBoxClassifier, TrainableMasker, require_black_box
from ..objective import ObjectiveTerms, SaliencyObjective
from .checkpointing import (
    capture_rng_state,
    load_initial_masker,
    load_trainable_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
    trainable_state,
)
from .config import OBJECTIVE_FIELDS, TrainConfig
from .data import ConcatImages, ImageDataset, align_labels, build_dataset
from .distributed import DistContext, setup_distributed
from .precision import PrecisionChoice, resolve_precision
from .sampler import ResumableBatchSampler, derive_seed
from .validation import BestKeeper, open_validation_data, validate

__all__ = ["TrainResult", "train", "BEST_NAME", "CHECKPOINT_NAME", "MASKER_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
MASKER_NAME = "masker.pt"
BEST_NAME = "best.pt"  # the masker of the best validation so far (by ``select_metric``)
LOSS_KEYS = ("total", *ObjectiveTerms.names(), "aux")


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


class _TrainForward(nn.Module):
    """What DDP wraps: ``masker.forward_train`` as ``forward`` (so DDP's gradient hooks are armed).

    The encoder runs under the chosen autocast precision and, optionally, channels-last; the mask
    itself comes out in float32 (the mask head computes its ratio in float32).
    """

    def __init__(self, masker: nn.Module, precision: PrecisionChoice, channels_last: bool) -> None:
        super().__init__()
        self.masker = masker
        self.precision = precision
        self.channels_last = channels_last

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with self.precision.autocast():
            out = self.masker.forward_train(images, classes)
        return out.masks.float(), out.class_scores.float()


def _lr_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer) -> ChainedScheduler:
    """The learning-rate schedule, stepped once after every optimisation step.

    The rate of step ``s`` (from 0) is ``lr * w(s) * c(s)``: the linear warm-up ``w(s) = (s + 1) / warmup_steps``
    for ``s < warmup_steps`` (else 1) times, with ``lr_schedule="cosine"``, ``c(s) = (1 + cos(pi * s / steps)) / 2``.
    """
    parts: list[LRScheduler] = []
    if config.warmup_steps > 1:  # one warm-up step is the full rate already
        parts.append(LinearLR(optimizer, start_factor=1.0 / config.warmup_steps, total_iters=config.warmup_steps - 1))
    if config.lr_schedule == "cosine":
        parts.append(CosineAnnealingLR(optimizer, T_max=config.steps))
    if not parts:
        parts.append(ConstantLR(optimizer, factor=1.0, total_iters=0))
    return ChainedScheduler(parts, optimizer=optimizer)


def _build_classifier(config: TrainConfig, classifier: BlackBoxClassifier | None) -> BlackBoxClassifier:
    if classifier is None:
        from ..plugins import load_classifier

        classifier = load_classifier(config.classifier)
    classifier = require_black_box(classifier)
    classifier.eval()
    classifier.requires_grad_(False)
    return classifier


def _image_size(config: TrainConfig, classifier: BlackBoxClassifier) -> int:
    if config.image_size is not None:
        return int(config.image_size)
    size = classifier.input_size
    if size[0] != size[1]:
        raise InputError(f"cannot infer a square training image size from the classifier's input size {size!r}; pass --image-size.")
    return int(size[0])


def _build_masker(config: TrainConfig, classifier: BlackBoxClassifier, masker: TrainableMasker | None) -> TrainableMasker:
    """A new SaliencyMasker as the config says (with its embedding init), or check the one given (left as it is)."""
    given = masker is not None
    if masker is None and config.init_from:
        masker = load_initial_masker(config.init_from)
        given = True  # a trained start: its embedding is kept, not re-initialised
        masker.classifier_name = config.classifier  # it now explains this run's black box (e.g. fine-tuned for another one)
        masker.config["classifier_name"] = config.classifier
    elif masker is None:
        from ..maskers import SaliencyMasker

        overrides = {"class_prior": config.class_prior}
        overrides.update({k: tuple(v) if isinstance(v, list) else v for k, v in config.masker_overrides.items()})
        masker = SaliencyMasker(
            classifier.num_classes,
            encoder=config.resolved_encoder(),
            preset=config.preset,
            encoder_pretrained=config.encoder_pretrained,
            classifier_name=config.classifier,
            **overrides,
        )
    if not isinstance(masker, TrainableMasker):
        raise InputError(f"the masker must be a TrainableMasker (forward_train() and trainable_parameters(), like SaliencyMasker), got {type(masker).__name__}.")
    if masker.num_classes != classifier.num_classes:
        raise InputError(f"the masker has {masker.num_classes} class selectors but the classifier {classifier.num_classes} classes.")
    if given:
        return masker
    fits = masker.encoder_head_classes() == classifier.num_classes
    if config.embedding_init == "encoder_head" or (config.embedding_init == "auto" and fits):
        masker.init_embedding_from_encoder_head()
    return masker


def _build_train_data(config: TrainConfig, size: int, class_names: list[str]) -> ImageDataset:
    """The training images of ``config.data``: one data set, or several joined (labels mapped to class indices)."""
    parts = [build_dataset(path, size, train=True, kind=config.data_kind, augment=config.augment, crop_scale=config.crop_scale,
                           whole_view_prob=config.whole_view_prob)
             for path in config.data_paths()]
    if len(parts) == 1:
        return parts[0]
    if config.labels == "dataset":
        for part in parts:
            if not part.labelled:
                raise InputError(f"the training data {part.source} has no labels (or some are missing); train with --labels blackbox.")
        return ConcatImages(parts, [align_labels(part, class_names) for part in parts])
    return ConcatImages(parts)


@dataclass
class _Labels:
    """Where the classes to explain come from: the data sets' labels (as class indices) or the black box's top-1."""

    classifier: BlackBoxClassifier
    from_blackbox: bool
    train_table: torch.Tensor | None  # data-set label -> class index (None: the labels are class indices)
    val_from_dataset: bool  # validation explains the data set's labels (else the black box's top-1)

    def blackbox(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.classifier(images).argmax(dim=1)

    def train(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.from_blackbox:
            return self.blackbox(images)
        return labels if self.train_table is None else self.train_table[labels]

    @property
    def val_target(self) -> str:
        """The evaluation runner's ``target`` for validation."""
        return "label" if self.val_from_dataset else "predicted"


def _data_and_labels(
    config: TrainConfig, classifier: BlackBoxClassifier, size: int, train_data: ImageDataset | None, val_data: ImageDataset | None,
    device: torch.device,
) -> tuple[ImageDataset, EvalDataset | None, _Labels]:
    """The training data, the validation data as the evaluation runner reads them (built from the config unless given),
    and how their classes are found."""
    class_names = list(classifier.class_names)
    if train_data is None:
        train_data = _build_train_data(config, size, class_names)
    table = None
    if config.labels == "dataset":
        if not train_data.labelled:
            raise InputError(
                f"the training data {train_data.source or config.data} has no labels (or some are missing); "
                "train with the classifier's own predictions as labels: --labels blackbox."
            )
        table = align_labels(train_data, class_names)
    val_table = align_labels(val_data, class_names) if val_data is not None and val_data.labelled and config.labels == "dataset" else None
    validation = open_validation_data(config.val_data, val_data, size, val_table)
    val_from_dataset = validation is not None and config.labels == "dataset" and validation.has_labels
    labels = _Labels(classifier, config.labels == "blackbox", None if table is None else torch.as_tensor(table, device=device), val_from_dataset)
    return train_data, validation, labels


def _build_objective(config: TrainConfig, classifier: BlackBoxClassifier) -> SaliencyObjective:
    from ..plugins import load_evidence_remover

    coefficients = {name: getattr(config, name) for name in OBJECTIVE_FIELDS}
    return SaliencyObjective(classifier, remover=load_evidence_remover(config.remover), **coefficients)


def _num_workers(config: TrainConfig, ctx: DistContext) -> int:
    if config.num_workers >= 0:
        return config.num_workers
    cores = (os.cpu_count() or 2) // ctx.world_size
    if ctx.device.type != "cuda":
        # one worker decodes and augments the next batch while the step computes (it takes one of the cores only
        # while it works); with one core, or in-memory arrays, loading in the step's process is cheaper
        return 1 if cores >= 2 and config.data_kind != "npz" and not all(str(p).endswith(".npz") for p in config.data_paths()) else 0
    return max(0, min(8, cores - 1))


RUN_FILES = (CHECKPOINT_NAME, MASKER_NAME, BEST_NAME, "log.jsonl", "result.json")


def _check_out_folder(out: Path, config: TrainConfig) -> None:
    """Refuse an ``out`` that is a file, or that holds a run, unless told to resume or overwrite it."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file, not a folder; pass a folder for the run's checkpoint, masker and log.")
    if config.overwrite or not out.is_dir():
        check_writable_folder(out, "--out")  # before the data, the models and the first step
        return
    held = [name for name in RUN_FILES if (out / name).exists()]
    other = config.resume not in (None, "auto") and Path(config.resume).expanduser().is_file()  # a missing one is reported on loading
    if held and other and Path(config.resume).expanduser().resolve() != (out / CHECKPOINT_NAME).resolve():
        raise InputError(
            f"--resume {config.resume} continues another run, but --out {out} already holds a run ({', '.join(held)}) that it would "
            f"replace; resume it into an empty --out folder (or its own folder), or resume the run in {out} with --resume. Nothing was changed."
        )
    if held and not config.resume:
        raise InputError(
            f"--out {out} already holds a run ({', '.join(held)}); pass --resume to continue it, --overwrite to start "
            "anew and replace it, or another --out folder. Nothing was changed."
        )
    check_writable_folder(out, "--out")


def _check_resume(config: TrainConfig, state: dict[str, Any], path: Path) -> None:
    try:
        saved = TrainConfig.from_dict(state["config"]).validate()
    except (InputError, TypeError) as error:
        raise CheckpointError(f"the training config stored in {path} is damaged or cannot be read by this version: {error}") from error
    diffs = config.differences(saved)
    if diffs:
        listed = "; ".join(f"{k}: now {a!r}, checkpoint {b!r}" for k, (a, b) in sorted(diffs.items()))
        raise InputError(
            f"--resume with settings that differ from the checkpoint's ({listed}); resume with the original command "
            "(only steps, out, device, workers, threads, logging, validation and checkpoint frequency may change)."
        )
    if saved.steps != config.steps and config.lr_schedule == "cosine":
        warnings.warn(f"resuming with steps={config.steps} instead of {saved.steps}: the cosine schedule changes from here on.", stacklevel=3)


class _Logger:
    """JSON lines in ``out/log.jsonl`` (rank 0 only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _draw_selectors(
    labels: torch.Tensor, num_classes: int, config: TrainConfig, step: int, rank: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class selectors for a batch and which of them are fake (a random other class), drawn on the host.

    ``fake`` stays on the CPU (the objective picks the real images with it without a device sync);
    the selectors go to the labels' device.
    """
    batch = labels.shape[0]
    generator.manual_seed(derive_seed(config.seed, 1, step, rank))
    fake = torch.rand(batch, generator=generator) < config.fake_prob
    if num_classes < 2:
        return labels, fake
    offset = torch.randint(1, num_classes, (batch,), generator=generator)
    offset = torch.where(fake, offset, torch.zeros_like(offset)).to(labels.device, non_blocking=True)
    return (labels + offset) % num_classes, fake


def _train_step(
    model: nn.Module,
    objective: SaliencyObjective,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    params: list[nn.Parameter],
    config: TrainConfig,
    precision: PrecisionChoice,
    images: torch.Tensor,
    selectors: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """One optimisation step; returns the (detached-able) loss, the objective's terms and the auxiliary loss.

    No host-device sync: inputs were checked where they entered, fake selectors never reach the black
    box, and the non-finite guard runs on the logging step (:func:`_check_finite`).
    """
    masks, scores = model(images, selectors)
    fake_on_device = fake.to(scores.device, non_blocking=True)
    with precision.autocast(), skip_input_checks():  # the data were checked where they entered
        terms = objective(images, masks, selectors, fake=fake, generator=generator)
    aux = F.binary_cross_entropy_with_logits(scores, (~fake_on_device).float())
    loss = terms.total.float().mean() + config.aux_coef * aux
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return loss, terms, aux


def _check_finite(running: torch.Tensor, step: int, window: int) -> None:
    """Raise when a loss of the last ``window`` steps was not finite (one host sync per logging step)."""
    if not bool(torch.isfinite(running).all()):
        raise InputError(
            f"the training loss became non-finite between steps {max(0, step - window)} and {step}; lower --lr, enable "
            "--grad-clip or use --precision fp32 (the last checkpoint before it is intact; resume from it)."
        )


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
    names (``config.classifier``, a new SaliencyMasker, ``config.data``, ``config.val_data``), e.g.
    for a custom black box; a given masker is trained as it is (``embedding_init`` is not applied).
    The trained masker is written to ``out/masker.pt``, the training state to
    ``out/checkpoint.pt`` (every ``checkpoint_every`` steps and at the end), logs to ``out/log.jsonl``.

    Raises:
        InputError: bad option, unusable data or labels, or a diverging loss.
        PluginError: unknown classifier, encoder or remover name.
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
    _check_out_folder(out, config)
    state = None
    resume_path = None
    if config.resume:
        resume_path = out / CHECKPOINT_NAME if config.resume == "auto" else Path(config.resume).expanduser()
        state = load_training_state(resume_path)
        _check_resume(config, state, resume_path)
    ctx = setup_distributed(config.device)
    try:
        return _train(config, ctx, out, state, resume_path, classifier, masker, train_data, val_data, started)
    finally:
        ctx.close()


def _train(
    config: TrainConfig,
    ctx: DistContext,
    out: Path,
    state: dict[str, Any] | None,
    resume_path: Path | None,
    classifier: nn.Module | None,
    masker: nn.Module | None,
    train_data: ImageDataset | None,
    val_data: ImageDataset | None,
    started: float,
) -> TrainResult:
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    random.seed(config.seed)
    run = _build_run(config, ctx, out, classifier, masker, train_data, val_data)
    with _run_lock(out, ctx.is_main):
        _check_out_folder(out, config)  # again, under the lock: a run that started beside this one may have finished meanwhile
        if state is not None:
            _resume(run, state, resume_path)
        run.model = _wrap_model(run)
        _prepare_out(run, fresh=state is None)
        _train_loop(run)
        return _finish(run, started)


@contextlib.contextmanager
def _run_lock(out: Path, is_main: bool) -> Iterator[None]:
    """Hold ``out/.lock`` (an OS file lock, released even if the process is killed) while the run writes to ``out``."""
    if not is_main or fcntl is None:  # other ranks write nothing; without fcntl (Windows) the folder is not locked
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another training run is writing to --out {out} right now; wait for it, or pass another --out folder. "
                             "Nothing was changed.") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class _Meter:
    """Running sums of the logged losses, the rate of the last step, and the step timing of this process."""

    running: torch.Tensor  # sums of LOSS_KEYS since the last log line
    count: int = 0
    last_losses: dict[str, float] = field(default_factory=dict)
    lr: float = float("nan")
    train_seconds: float = 0.0  # validation, checkpoints and the first step (one-off warm-up costs) excluded
    data_seconds: float = 0.0
    images: int = 0  # over all processes
    start_step: int = 0

    def add(self, loss: torch.Tensor, terms: Any, aux: torch.Tensor, aux_coef: float) -> None:
        with torch.no_grad():
            self.running += torch.stack([loss.detach(), *(getattr(terms, name).mean() for name in ObjectiveTerms.names()), aux_coef * aux.detach()])
        self.count += 1

    def flush(self) -> dict[str, float]:
        """The mean losses since the last call (one host sync), which start anew."""
        self.last_losses = dict(zip(LOSS_KEYS, (self.running / self.count).tolist()))
        self.running.zero_()
        self.count = 0
        return self.last_losses

    def rates(self) -> tuple[float, float]:
        """Images per second over all processes, and the share of the step time spent waiting for data."""
        if self.train_seconds <= 0:
            return float("nan"), float("nan")
        return self.images / self.train_seconds, self.data_seconds / self.train_seconds


@dataclass
class _Run:
    """One training run while it trains: what :func:`_build_run` builds, the position :func:`_resume` restores."""

    config: TrainConfig
    ctx: DistContext
    out: Path
    classifier: BlackBoxClassifier
    masker: TrainableMasker
    train_data: ImageDataset
    val_data: EvalDataset | None
    labels: _Labels
    precision: PrecisionChoice
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler
    scaler: torch.amp.GradScaler | None
    objective: SaliencyObjective
    sampler: ResumableBatchSampler
    loader: DataLoader
    logger: _Logger
    meter: _Meter
    generator: torch.Generator  # the objective's draws (alternative images), seeded per step
    draw_generator: torch.Generator  # the fake selectors, drawn on the host: picking the real images needs no device sync
    model: nn.Module | None = None  # what a step calls: forward_train, maybe compiled and under DDP (see _wrap_model)
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None  # the validation baselines' rows, computed once
    best: BestKeeper | None = None  # the validation metric that picks best.pt, and its best value so far
    images_checked: bool = False

    @property
    def device(self) -> torch.device:
        return self.ctx.device

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_NAME


def _build_run(
    config: TrainConfig,
    ctx: DistContext,
    out: Path,
    classifier: nn.Module | None,
    masker: nn.Module | None,
    train_data: ImageDataset | None,
    val_data: ImageDataset | None,
) -> _Run:
    """Black box, data, masker, optimiser and schedule, objective and data loader of a run at step 0."""
    device = ctx.device
    classifier = _build_classifier(config, classifier).to(device)
    size = _image_size(config, classifier)
    if config.fake_prob > 0 and classifier.num_classes < 2:
        raise InputError("fake class selectors need at least 2 classes; set fake_prob to 0.")
    train_data, val_data, labels = _data_and_labels(config, classifier, size, train_data, val_data, device)
    masker = _build_masker(config, classifier, masker).to(device)
    masker.train()
    precision = resolve_precision(config.precision, device)
    if ctx.is_main and config.progress:
        tqdm.write(f"precision: {precision.name} ({precision.reason}); channels-last: {'on' if config.channels_last else 'off'}")
    if config.channels_last:
        classifier.to(memory_format=torch.channels_last)
        masker.encoder.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(device.type) if precision.needs_scaler else None
    params = list(masker.trainable_parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _lr_scheduler(config, optimizer)
    objective = _build_objective(config, classifier)
    sampler = ResumableBatchSampler(len(train_data), config.batch_size, config.seed, ctx.rank, ctx.world_size)
    loader = DataLoader(
        train_data,
        batch_sampler=sampler,
        num_workers=_num_workers(config, ctx),
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),  # keeps the loader from drawing on the global RNG
        persistent_workers=False,
    )
    return _Run(
        config=config, ctx=ctx, out=out, classifier=classifier, masker=masker, train_data=train_data, val_data=val_data, labels=labels,
        precision=precision, params=params, optimizer=optimizer, scheduler=scheduler, scaler=scaler, objective=objective, sampler=sampler,
        loader=loader, logger=_Logger(out / "log.jsonl" if ctx.is_main else None), meter=_Meter(torch.zeros(len(LOSS_KEYS), device=device)),
        generator=torch.Generator(device=device), draw_generator=torch.Generator(), best=BestKeeper(config.select_metric),
    )


def _resume(run: _Run, state: dict[str, Any], path: Path) -> None:
    """Continue from a training checkpoint: weights, optimiser, schedule, data position, metrics and RNG states."""
    ctx = run.ctx
    load_trainable_state(run.masker, state["masker_state"], str(path))
    try:
        run.optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(f"the optimiser state in {path} does not fit this masker: {error}") from error
    saved_precision = state.get("precision", "fp32")
    if saved_precision != run.precision.name:
        raise InputError(
            f"the checkpoint {path} was trained in {saved_precision} but this run resolves to {run.precision.name} "
            f"({run.precision.reason}); resume with --precision {saved_precision} to continue it exactly, or start a new run "
            f"with --init-from {path}."
        )
    run.step, run.epoch, run.batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
    _restore_lr_schedule(run, state, path)
    run.metrics = dict(state.get("metrics") or {})
    run.best = BestKeeper.from_state(run.config.select_metric, run.metrics.get("best"))
    rng = state.get("rng")
    if isinstance(rng, list) and int(state.get("world_size", 1)) == ctx.world_size and len(rng) == ctx.world_size:
        restore_rng_state(rng[ctx.rank], run.device)
    else:
        warnings.warn(
            f"the checkpoint was written by {state.get('world_size')} process(es), this run has {ctx.world_size}: "
            "the global RNG states are not restored (the data order and the per-step draws still are).",
            stacklevel=3,
        )


def _restore_lr_schedule(run: _Run, state: dict[str, Any], path: Path) -> None:
    """The schedule's saved state; without one (older checkpoints), or when ``steps`` (the cosine's length) changed,
    a new schedule stepped to the saved step (the rate is a function of the step and the config)."""
    saved = state.get("scheduler")
    if isinstance(saved, dict) and state["config"].get("steps") == run.config.steps:
        try:
            run.scheduler.load_state_dict(saved)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise CheckpointError(f"the learning-rate schedule in {path} does not fit this run: {error}") from error
        return
    for group in run.optimizer.param_groups:
        group["lr"] = run.config.lr
    run.scheduler = _lr_scheduler(run.config, run.optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "lr_scheduler.step() before optimizer.step()": only the rate is replayed
        for _ in range(run.step):
            run.scheduler.step()


def _wrap_model(run: _Run) -> nn.Module:
    """The masker's training forward as a step calls it: in the run's precision, maybe compiled, under DDP when distributed."""
    model: nn.Module = _TrainForward(run.masker, run.precision, run.config.channels_last)
    if run.config.compile:
        model = torch.compile(model)
    if run.ctx.distributed:
        model = DistributedDataParallel(model, device_ids=[run.device] if run.device.type == "cuda" else None, broadcast_buffers=False)
    return model


def _prepare_out(run: _Run, fresh: bool) -> None:
    """Create ``out`` with the run's config.json (rank 0); a fresh run starts a fresh log."""
    if run.ctx.is_main:
        run.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(run.config.to_dict(), indent=2) + "\n", run.out / "config.json")
        if fresh:  # only reached with --overwrite when a run was there: its files go now, so a killed new run leaves no mix
            for name in RUN_FILES:
                (run.out / name).unlink(missing_ok=True)


def _train_loop(run: _Run) -> None:
    """Step until ``config.steps``, epoch after epoch from the saved data position; validate and checkpoint on schedule and at the end."""
    config = run.config
    bar = tqdm(total=config.steps, initial=min(run.step, config.steps), desc="train", dynamic_ncols=True,
               disable=not (run.ctx.is_main and config.progress))
    run.meter.start_step = run.step
    done_val_at = done_ckpt_at = -1
    if run.step == 0 and config.val_every:  # where training starts (the prior, for a masker that has one) is a row too
        run.metrics = _validate(run) or run.metrics
    try:
        while run.step < config.steps:
            run.sampler.set_position(run.epoch, run.batch_in_epoch)
            tick = time.perf_counter()
            for images, labels in run.loader:
                _step(run, images, labels, tick)
                bar.update(1)
                if run.step % config.log_every == 0 or run.step == config.steps:
                    _log_progress(run, bar)
                if config.val_every and run.step % config.val_every == 0 and run.step < config.steps:
                    run.metrics = _validate(run) or run.metrics
                    done_val_at = run.step
                if config.checkpoint_every and run.step % config.checkpoint_every == 0:
                    _save_checkpoint(run)
                    done_ckpt_at = run.step
                if run.step >= config.steps:
                    break
                tick = time.perf_counter()
            else:
                run.epoch += 1
                run.batch_in_epoch = 0
        if done_val_at != run.step:
            run.metrics = _validate(run) or run.metrics
        if done_ckpt_at != run.step:
            _save_checkpoint(run)
    finally:
        bar.close()


def _step(run: _Run, images: torch.Tensor, labels: torch.Tensor, tick: float) -> None:
    """One optimisation step on a loaded batch, its random draws seeded by ``(seed, step, rank)``; timed from ``tick``."""
    config, meter = run.config, run.meter
    waited = time.perf_counter() - tick
    if not run.images_checked:  # where data enter: once, not in every call of every step
        check_images(images, name="training images")
        run.images_checked = True
    images = images.to(run.device, non_blocking=True)
    classes = run.labels.train(images, labels.to(run.device, non_blocking=True))
    selectors, fake = _draw_selectors(classes, run.classifier.num_classes, config, run.step, run.ctx.rank, run.draw_generator)
    run.generator.manual_seed(derive_seed(config.seed, 2, run.step, run.ctx.rank))
    meter.lr = run.optimizer.param_groups[0]["lr"]
    loss, terms, aux = _train_step(run.model, run.objective, run.optimizer, run.scaler, run.params, config, run.precision, images, selectors,
                                   fake, run.generator)
    run.scheduler.step()
    run.step += 1
    run.batch_in_epoch += 1
    meter.add(loss, terms, aux, config.aux_coef)
    if run.step > meter.start_step + 1 or config.steps - meter.start_step == 1:  # the first step pays one-off warm-up costs
        meter.train_seconds += time.perf_counter() - tick
        meter.data_seconds += waited
        meter.images += images.shape[0] * run.ctx.world_size


def _log_progress(run: _Run, bar: tqdm) -> None:
    """Check and log the mean losses since the last log line, with the rate and the throughput."""
    _check_finite(run.meter.running, run.step, run.config.log_every)
    losses = run.meter.flush()
    speed, wait = run.meter.rates()
    bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()} | {"img/s": f"{speed:.1f}", "data wait": f"{wait:.0%}"})
    run.logger.write({"step": run.step, "epoch": run.epoch, "lr": run.meter.lr, "loss": losses, "images_per_s": speed, "data_wait_share": wait})


def _validate(run: _Run) -> dict[str, Any]:
    """The evaluation runner's numbers on the validation subset (rank 0; the central box once), logged; ``best.pt`` on a new best."""
    config = run.config
    result: dict[str, Any] = {}
    if run.val_data is not None and run.ctx.is_main:
        from ..baselines.boxes import CenterBoxMasker

        baselines = {"center": CenterBoxMasker()} if run.baseline is None else None
        result = validate(run.masker, run.classifier, run.val_data, limit=config.val_size, batch_size=config.val_batch_size or config.batch_size,
                          target=run.labels.val_target, baselines=baselines)
        if run.baseline is None:
            run.baseline = result.pop("baselines")
        result["baselines"] = run.baseline
        improved = run.best.update(result.get(config.select_metric), run.step)
        if improved:
            _write_masker(run, run.out / BEST_NAME, {"selected_by": run.best.state()})
        result["best"] = run.best.state()
        run.logger.write({"step": run.step, "val": result, "new_best": improved})
        if config.progress:
            tqdm.write(_validation_line(run.step, result, run.baseline["center"], improved))
    run.ctx.barrier()
    return result


def _validation_line(step: int, result: dict[str, Any], center: dict[str, Any], improved: bool) -> str:
    def loc(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    return (f"step {step}: val saliency {result['saliency']:.4f} (central box {center['saliency']:.4f}), log area {result['log_area']:.3f}, "
            f"loc. error alpha*mean {loc(result['loc_error_paper'])}, CASM {loc(result['loc_error_casm'])}" + (" [new best]" if improved else ""))


def _save_checkpoint(run: _Run) -> None:
    """Write ``out/checkpoint.pt`` (rank 0; the RNG states of every rank), after checking the losses since the last log line."""
    if run.meter.count:
        _check_finite(run.meter.running, run.step, run.meter.count)
    run.ctx.broadcast_buffers(run.masker)
    rng_states = run.ctx.all_gather_object(capture_rng_state(run.device))
    if run.ctx.is_main:
        save_training_state(
            run.checkpoint_path,
            step=run.step,
            epoch=run.epoch,
            batch_in_epoch=run.batch_in_epoch,
            config=run.config.to_dict(),
            masker_config=dict(run.masker.config),
            masker_state=trainable_state(run.masker),
            optimizer=run.optimizer.state_dict(),
            scheduler=run.scheduler.state_dict(),
            rng=rng_states,
            world_size=run.ctx.world_size,
            metrics=run.metrics,
            precision=run.precision.name,
        )
    run.ctx.barrier()


def _finish(run: _Run, started: float) -> TrainResult:
    """Write masker.pt and result.json (rank 0) and return the result."""
    run.masker.eval()
    images_per_s, data_wait_share = run.meter.rates()
    final = {**run.metrics, **{f"train_{k}": v for k, v in run.meter.last_losses.items()}}
    masker_path = _write_outputs(run, images_per_s, data_wait_share, final) if run.ctx.is_main else None
    run.ctx.barrier()
    return TrainResult(
        masker_path=masker_path,
        checkpoint_path=run.checkpoint_path if run.ctx.is_main else None,
        steps=run.step,
        metrics=final,
        images_per_s=images_per_s,
        seconds=time.perf_counter() - started,
        masker=run.masker,
        data_wait_share=data_wait_share,
        precision=run.precision.name,
    )


def _write_masker(run: _Run, path: Path, metadata: dict[str, Any]) -> Path:
    """The masker as it is now (in eval mode), with the run's ``metadata``, atomically at ``path``."""
    from ..maskers.checkpoint import save_masker

    was_training = run.masker.training
    try:
        return save_masker(path, run.masker.eval(), {"step": run.step, "classifier": run.config.classifier,
                                                     "training_config": run.config.to_dict(), **metadata})
    finally:
        run.masker.train(was_training)


def _write_outputs(run: _Run, images_per_s: float, data_wait_share: float, final: dict[str, Any]) -> Path:
    """``out/masker.pt`` with the run's metadata, and ``out/result.json``; returns the masker's path."""
    config = run.config
    metadata = {
        "classifier": config.classifier,
        "encoder": run.masker.config.get("encoder", config.encoder),
        "data": str(run.train_data.source or config.data),
        "val_data": None if run.val_data is None else (config.val_data or run.val_data.description),
        "labels": config.labels,
        "steps": run.step,
        "world_size": run.ctx.world_size,
        "device": str(run.device),
        "images_per_s": images_per_s if math.isfinite(images_per_s) else None,
        "data_wait_share": data_wait_share if math.isfinite(data_wait_share) else None,
        "precision": run.precision.name,
        "final_metrics": {k: v for k, v in final.items() if isinstance(v, (int, float)) and math.isfinite(v)},
        "best": run.best.state() if run.best is not None else None,
        "command_line": config.command_line or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "training_config": config.to_dict(),
    }
    masker_path = _write_masker(run, run.out / MASKER_NAME, metadata)
    summary = {"steps": run.step, "images_per_s": metadata["images_per_s"], "data_wait_share": metadata["data_wait_share"],
               "precision": run.precision.name, "metrics": metadata["final_metrics"],
               "masker": str(masker_path), "checkpoint": str(run.checkpoint_path),
               "best": None if run.best is None or run.best.value is None else {**run.best.state(), "masker": str(run.out / BEST_NAME)}}
    atomic_write_text(json.dumps(summary, indent=2) + "\n", run.out / "result.json")
    return masker_path
