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

import json
import math
import os
import random
import shlex
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import atomic_write_text
from ..classifiers.frozen import FrozenBlackBox
from ..conventions import check_images
from ..errors import CheckpointError, DataNotFoundError, InputError
from ..objective import SaliencyObjective
from .checkpointing import (
    capture_rng_state,
    load_initial_masker,
    load_trainable_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
    trainable_state,
)
from .config import TrainConfig
from .data import ConcatImages, ImageDataset, align_labels, build_dataset
from .distributed import DistContext, setup_distributed
from .evaluation import evaluate_masks
from .precision import PrecisionChoice, resolve_precision
from .sampler import ResumableBatchSampler, derive_seed

__all__ = ["TrainResult", "train", "CHECKPOINT_NAME", "MASKER_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
MASKER_NAME = "masker.pt"
LOSS_KEYS = ("total", "tv", "area", "preserve", "destroy", "aux")


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
            out = self.masker.forward_train(images, classes, check=False)
        return out.masks.float(), out.class_scores.float()


def _lr_factor(config: TrainConfig, step: int) -> float:
    factor = 1.0
    if config.warmup_steps and step < config.warmup_steps:
        factor = (step + 1) / config.warmup_steps
    if config.lr_schedule == "cosine":
        factor *= 0.5 * (1.0 + math.cos(math.pi * min(step, config.steps) / config.steps))
    return factor


def _build_classifier(config: TrainConfig, classifier: nn.Module | None) -> nn.Module:
    if classifier is None:
        from ..plugins import load_classifier

        classifier = load_classifier(config.classifier)
    if not isinstance(classifier, nn.Module) or not hasattr(classifier, "num_classes"):
        raise InputError(f"the classifier must be a BlackBoxClassifier (an nn.Module with num_classes), got {type(classifier).__name__}.")
    classifier.eval()
    classifier.requires_grad_(False)
    return classifier


def _image_size(config: TrainConfig, classifier: nn.Module) -> int:
    if config.image_size is not None:
        return int(config.image_size)
    size = getattr(classifier, "input_size", None)
    if size is None or size[0] != size[1]:
        raise InputError(f"cannot infer a square training image size from the classifier's input size {size!r}; pass --image-size.")
    return int(size[0])


def _build_masker(config: TrainConfig, classifier: nn.Module, masker: nn.Module | None) -> nn.Module:
    """A new SaliencyMasker as the config says (with its embedding init), or check the one given (left as it is)."""
    given = masker is not None
    if masker is None and config.init_from:
        masker = load_initial_masker(config.init_from)
        given = True  # a trained start: its embedding is kept, not re-initialised
        masker.classifier_name = config.classifier  # it now explains this run's black box (e.g. fine-tuned for another one)
        masker.config["classifier_name"] = config.classifier
    elif masker is None:
        from ..maskers import SaliencyMasker

        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in config.masker_overrides.items()}
        masker = SaliencyMasker(
            classifier.num_classes,
            encoder=config.resolved_encoder(),
            preset=config.preset,
            encoder_pretrained=config.encoder_pretrained,
            classifier_name=config.classifier,
            **overrides,
        )
    if not hasattr(masker, "forward_train") or not hasattr(masker, "trainable_parameters"):
        raise InputError(f"the masker must provide forward_train() and trainable_parameters() like SaliencyMasker, got {type(masker).__name__}.")
    if getattr(masker, "num_classes", None) != classifier.num_classes:
        raise InputError(f"the masker has {getattr(masker, 'num_classes', None)} class selectors but the classifier {classifier.num_classes} classes.")
    if given:
        return masker
    head = getattr(masker.encoder, "head_weight", None)
    fits = head is not None and head.shape[0] == classifier.num_classes
    if config.embedding_init == "encoder_head" or (config.embedding_init == "auto" and fits):
        masker.init_embedding_from_encoder_head()
    return masker


def _build_train_data(config: TrainConfig, size: int, class_names: list[str]) -> ImageDataset:
    """The training images of ``config.data``: one data set, or several joined (labels mapped to class indices)."""
    parts = [build_dataset(path, size, train=True, kind=config.data_kind, augment=config.augment, crop_scale=config.crop_scale)
             for path in config.data_paths()]
    if len(parts) == 1:
        return parts[0]
    if config.labels == "dataset":
        for part in parts:
            if not part.labelled:
                raise InputError(f"the training data {part.source} has no labels (or some are missing); train with --labels blackbox.")
        return ConcatImages(parts, [align_labels(part, class_names) for part in parts])
    return ConcatImages(parts)


def _num_workers(config: TrainConfig, ctx: DistContext) -> int:
    if config.num_workers >= 0:
        return config.num_workers
    cores = (os.cpu_count() or 2) // ctx.world_size
    if ctx.device.type != "cuda":
        # one worker decodes and augments the next batch while the step computes (it takes one of the cores only
        # while it works); with one core, or in-memory arrays, loading in the step's process is cheaper
        return 1 if cores >= 2 and config.data_kind != "npz" and not all(str(p).endswith(".npz") for p in config.data_paths()) else 0
    return max(0, min(8, cores - 1))


RUN_FILES = (CHECKPOINT_NAME, MASKER_NAME, "log.jsonl", "result.json")


def _check_out_folder(out: Path, config: TrainConfig) -> None:
    """Refuse an ``out`` that is a file, or that holds a run, unless told to resume or overwrite it."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file, not a folder; pass a folder for the run's checkpoint, masker and log.")
    if config.resume or config.overwrite or not out.is_dir():
        return
    held = [name for name in RUN_FILES if (out / name).exists()]
    if held:
        raise InputError(
            f"--out {out} already holds a run ({', '.join(held)}); pass --resume to continue it, --overwrite to start "
            "anew and replace it, or another --out folder. Nothing was changed."
        )


def _check_resume(config: TrainConfig, state: dict[str, Any], path: Path) -> None:
    try:
        saved = TrainConfig.from_dict(state["config"])
    except (InputError, TypeError) as error:
        raise CheckpointError(f"the training config stored in {path} cannot be read by this version: {error}") from error
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
    with precision.autocast():
        terms = objective(images, masks, selectors, fake=fake, generator=generator, check=False)
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
    device = ctx.device
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    random.seed(config.seed)

    classifier = _build_classifier(config, classifier).to(device)
    num_classes = int(classifier.num_classes)
    class_names = list(getattr(classifier, "class_names", [str(i) for i in range(num_classes)]))
    size = _image_size(config, classifier)
    if config.fake_prob > 0 and num_classes < 2:
        raise InputError("fake class selectors need at least 2 classes; set fake_prob to 0.")

    # ---------------------------------------------------------------- data
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
    table_t = None if table is None else torch.as_tensor(table, device=device)
    if val_data is None and config.val_data:
        val_data = build_dataset(config.val_data, size, train=False, kind="auto", limit=config.val_size)
    val_table = None
    val_from_dataset = val_data is not None and config.labels == "dataset" and val_data.labelled
    if val_from_dataset:
        val_table = align_labels(val_data, class_names)
    val_table_t = None if val_table is None else torch.as_tensor(val_table, device=device)

    def blackbox_labels(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return classifier(images).argmax(dim=1)

    def val_labels(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if not val_from_dataset:
            return blackbox_labels(images)
        return labels if val_table_t is None else val_table_t[labels]

    # ---------------------------------------------------------------- model, objective, optimiser
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
    from ..plugins import load_evidence_remover

    objective = SaliencyObjective(
        classifier,
        remover=load_evidence_remover(config.remover),
        tv_coef=config.tv_coef,
        area_coef=config.area_coef,
        destroy_coef=config.destroy_coef,
        destroy_power=config.destroy_power,
        area_power=config.area_power,
        variant=config.variant,
    )

    step, epoch, batch_in_epoch = 0, 0, 0
    metrics: dict[str, Any] = {}
    if state is not None:
        load_trainable_state(masker, state["masker_state"], str(resume_path))
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, RuntimeError) as error:
            raise CheckpointError(f"the optimiser state in {resume_path} does not fit this masker: {error}") from error
        saved_precision = state.get("precision", "fp32")
        if saved_precision != precision.name:
            raise InputError(
                f"the checkpoint {resume_path} was trained in {saved_precision} but this run resolves to {precision.name} "
                f"({precision.reason}); resume with --precision {saved_precision} to continue it exactly, or start a new run "
                f"with --init-from {resume_path}."
            )
        step, epoch, batch_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
        metrics = dict(state.get("metrics") or {})
        rng = state.get("rng")
        if isinstance(rng, list) and int(state.get("world_size", 1)) == ctx.world_size and len(rng) == ctx.world_size:
            restore_rng_state(rng[ctx.rank], device)
        else:
            warnings.warn(
                f"the checkpoint was written by {state.get('world_size')} process(es), this run has {ctx.world_size}: "
                "the global RNG states are not restored (the data order and the per-step draws still are).",
                stacklevel=2,
            )

    model: nn.Module = _TrainForward(masker, precision, config.channels_last)
    if config.compile:
        model = torch.compile(model)
    if ctx.distributed:
        model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None, broadcast_buffers=False)

    sampler = ResumableBatchSampler(len(train_data), config.batch_size, config.seed, ctx.rank, ctx.world_size)
    sampler.set_position(epoch, batch_in_epoch)
    workers = _num_workers(config, ctx)
    loader = DataLoader(
        train_data,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),  # keeps the loader from drawing on the global RNG
        persistent_workers=False,
    )

    # ---------------------------------------------------------------- files
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(config.to_dict(), indent=2) + "\n", out / "config.json")
        if state is None:  # a fresh run starts a fresh log
            (out / "log.jsonl").unlink(missing_ok=True)  # only reached with --overwrite when a run was there
    logger = _Logger(out / "log.jsonl" if ctx.is_main else None)
    checkpoint_path = out / CHECKPOINT_NAME
    val_batch = config.val_batch_size or config.batch_size
    baseline: dict[str, float] | None = None

    def validate() -> dict[str, Any]:
        nonlocal baseline
        result: dict[str, Any] = {}
        if val_data is not None and ctx.is_main:
            result = evaluate_masks(masker, classifier, val_data, val_labels, device, val_batch, objective, config.seed, with_baseline=baseline is None)
            if baseline is None:
                baseline = {k: result[k] for k in result if k.startswith("baseline_")}
            result.update(baseline)
            logger.write({"step": step, "val": result})
            if config.progress:
                tqdm.write(
                    f"step {step}: val saliency metric {result['saliency_metric']:.4f} (central box {result['baseline_saliency_metric']:.4f}, "
                    f"whole image {result['baseline_full_image_saliency_metric']:.4f}), area {result['mean_area']:.3f}, prob {result['mean_prob']:.3f}"
                )
        ctx.barrier()
        return result

    def save_checkpoint() -> None:
        if running_count:
            _check_finite(running, step, running_count)
        ctx.broadcast_buffers(masker)
        rng_states = ctx.all_gather_object(capture_rng_state(device))
        if ctx.is_main:
            save_training_state(
                checkpoint_path,
                step=step,
                epoch=epoch,
                batch_in_epoch=batch_in_epoch,
                config=config.to_dict(),
                masker_config=dict(getattr(masker, "config", {})),
                masker_state=trainable_state(masker),
                optimizer=optimizer.state_dict(),
                rng=rng_states,
                world_size=ctx.world_size,
                metrics=metrics,
                precision=precision.name,
            )
        ctx.barrier()

    # ---------------------------------------------------------------- loop
    bar = tqdm(total=config.steps, initial=min(step, config.steps), desc="train", dynamic_ncols=True,
               disable=not (ctx.is_main and config.progress))
    generator = torch.Generator(device=device)
    draw_generator = torch.Generator()  # fake selectors are drawn on the host: picking the real images needs no device sync
    running = torch.zeros(len(LOSS_KEYS), device=device)
    running_count = 0
    last_losses: dict[str, float] = {}
    train_seconds, data_seconds, train_images, start_step = 0.0, 0.0, 0, step
    done_val_at = done_ckpt_at = -1
    range_checked = getattr(classifier, "check_range", None)
    if isinstance(classifier, FrozenBlackBox):
        classifier.check_range = False  # the data are checked where they enter (the first batch below)
    first_batch = True
    try:
        while step < config.steps:
            sampler.set_position(epoch, batch_in_epoch)
            tick = time.perf_counter()
            for images, labels in loader:
                waited = time.perf_counter() - tick
                if first_batch:  # where data enter: once, not in every call of every step
                    check_images(images, name="training images")
                    first_batch = False
                images = images.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                if config.labels == "blackbox":
                    labels = blackbox_labels(images)
                elif table_t is not None:
                    labels = table_t[labels]
                batch = images.shape[0]
                selectors, fake = _draw_selectors(labels, num_classes, config, step, ctx.rank, draw_generator)
                generator.manual_seed(derive_seed(config.seed, 2, step, ctx.rank))
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * _lr_factor(config, step)
                loss, terms, aux = _train_step(model, objective, optimizer, scaler, params, config, precision, images, selectors, fake, generator)
                step += 1
                batch_in_epoch += 1
                with torch.no_grad():
                    running += torch.stack([loss.detach(), terms.tv.mean(), terms.area.mean(), terms.preserve.mean(), terms.destroy.mean(), config.aux_coef * aux.detach()])
                running_count += 1
                tock = time.perf_counter()
                if step > start_step + 1 or config.steps - start_step == 1:  # the first step pays one-off warm-up costs
                    train_seconds += tock - tick
                    data_seconds += waited
                    train_images += batch * ctx.world_size
                bar.update(1)
                if step % config.log_every == 0 or step == config.steps:
                    _check_finite(running, step, config.log_every)
                    last_losses = dict(zip(LOSS_KEYS, (running / running_count).tolist()))
                    running.zero_()
                    running_count = 0
                    speed = train_images / train_seconds if train_seconds > 0 else float("nan")
                    wait = data_seconds / train_seconds if train_seconds > 0 else float("nan")
                    bar.set_postfix({k: f"{v:.3f}" for k, v in last_losses.items()} | {"img/s": f"{speed:.1f}", "data wait": f"{wait:.0%}"})
                    logger.write({"step": step, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "loss": last_losses,
                                  "images_per_s": speed, "data_wait_share": wait})
                if config.val_every and step % config.val_every == 0 and step < config.steps:
                    metrics = validate() or metrics
                    done_val_at = step
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    save_checkpoint()
                    done_ckpt_at = step
                if step >= config.steps:
                    break
                tick = time.perf_counter()
            else:
                epoch += 1
                batch_in_epoch = 0
        if done_val_at != step:
            metrics = validate() or metrics
        if done_ckpt_at != step:
            save_checkpoint()
    finally:
        bar.close()
        if isinstance(classifier, FrozenBlackBox):
            classifier.check_range = range_checked

    masker.eval()
    images_per_s = train_images / train_seconds if train_seconds > 0 else float("nan")
    data_wait_share = data_seconds / train_seconds if train_seconds > 0 else float("nan")
    final = {**metrics, **{f"train_{k}": v for k, v in last_losses.items()}}
    masker_path = None
    if ctx.is_main:
        from ..maskers.checkpoint import save_masker

        metadata = {
            "classifier": config.classifier,
            "encoder": getattr(masker, "config", {}).get("encoder", config.encoder),
            "data": str(train_data.source or config.data),
            "val_data": None if val_data is None else str(val_data.source or config.val_data),
            "labels": config.labels,
            "steps": step,
            "world_size": ctx.world_size,
            "device": str(device),
            "images_per_s": images_per_s if math.isfinite(images_per_s) else None,
            "data_wait_share": data_wait_share if math.isfinite(data_wait_share) else None,
            "precision": precision.name,
            "final_metrics": {k: v for k, v in final.items() if isinstance(v, (int, float)) and math.isfinite(v)},
            "command_line": config.command_line or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "training_config": config.to_dict(),
        }
        masker_path = save_masker(out / MASKER_NAME, masker, metadata)
        summary = {"steps": step, "images_per_s": metadata["images_per_s"], "data_wait_share": metadata["data_wait_share"],
                   "precision": precision.name, "metrics": metadata["final_metrics"],
                   "masker": str(masker_path), "checkpoint": str(checkpoint_path)}
        atomic_write_text(json.dumps(summary, indent=2) + "\n", out / "result.json")
    ctx.barrier()
    return TrainResult(
        masker_path=masker_path,
        checkpoint_path=checkpoint_path if ctx.is_main else None,
        steps=step,
        metrics=final,
        images_per_s=images_per_s,
        seconds=time.perf_counter() - started,
        masker=masker,
        data_wait_share=data_wait_share,
        precision=precision.name,
    )
