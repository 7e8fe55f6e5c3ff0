"""What a training run is made of, built once from its :class:`~blackbox_saliency.training.config.TrainConfig`.

This module is the one place that reads the config: :func:`build_parts` turns it into the black box, the
masker (any registered :class:`~blackbox_saliency.interfaces.TrainableMasker` architecture, through
:func:`~blackbox_saliency.maskers.build_trainable_masker`), the data and their labels, the objective, the
optimiser and its schedule, and the small settings objects the loop, the validation and the run folder take
(:mod:`~blackbox_saliency.training.parts`, :class:`~blackbox_saliency.training.run_folder.RunRecord`).
Downstream code gets built objects and plain values.

Example:
    >>> from blackbox_saliency.training.builders import masker_settings
    >>> from blackbox_saliency.training.config import TrainConfig
    >>> settings = masker_settings(TrainConfig(classifier="cifar10_resnet20", preset="fast"), num_classes=10)
    >>> settings["encoder"], settings["preset"], settings["num_classes"]
    ('cifar10_resnet20', 'fast', 10)
    >>> masker_settings(TrainConfig(masker="my_masker", masker_options={"width": 8}), num_classes=3)
    {'num_classes': 3, 'width': 8}
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..errors import InputError
from ..evaluation.datasets import EvalDataset
from ..interfaces import BlackBoxClassifier, TrainableMasker, require_black_box
from ..objective import SaliencyObjective
from .checkpointing import load_initial_masker
from .config import OBJECTIVE_FIELDS, SALIENCY_MASKER, TrainConfig
from .data import ConcatImages, ImageDataset, build_dataset
from .distributed import DistContext
from .labels import Labels, align_labels
from .optimisation import LRPlan, Optimisation
from .parts import Draws, Feed, Models, Parts, Schedule, ValidationPlan
from .precision import resolve_precision
from .run_folder import RunRecord
from .sampler import ResumableBatchSampler
from .validation import open_validation_data

__all__ = ["Given", "build_classifier", "build_masker", "build_objective", "build_parts", "masker_settings"]


@dataclass
class Given:
    """Objects the caller of :func:`~blackbox_saliency.training.train` built itself (None: built from the config)."""

    classifier: nn.Module | None = None
    masker: nn.Module | None = None
    train_data: ImageDataset | None = None
    val_data: ImageDataset | None = None


def build_parts(config: TrainConfig, ctx: DistContext, given: Given) -> Parts:
    """Black box, data, masker, objective, optimiser and schedule of a run at step 0, on ``ctx.device``."""
    device = ctx.device
    classifier = build_classifier(config.classifier, given.classifier).to(device)
    if config.fake_prob > 0 and classifier.num_classes < 2:
        raise InputError("fake class selectors need at least 2 classes; set fake_prob to 0.")
    size = _image_size(config.image_size, classifier)
    feed, validation = _data(config, ctx, classifier, size, given)
    models = _models(config, ctx, classifier, given.masker)
    plan = LRPlan(config.lr, config.lr_schedule, config.warmup_steps, config.steps)
    scaler = torch.amp.GradScaler(device.type) if models.precision.needs_scaler else None
    params = list(models.masker.trainable_parameters())
    optimisation = Optimisation.adamw(params, plan, config.weight_decay, config.grad_clip, scaler)
    return Parts(
        models=models,
        feed=feed,
        optimisation=optimisation,
        draws=Draws(config.seed, config.fake_prob, classifier.num_classes, ctx.rank, device),
        schedule=Schedule(config.steps, config.log_every, config.val_every, config.checkpoint_every, config.progress),
        validation=validation,
        record=_record(config, feed.data, validation.data),
    )


def build_classifier(name: str, classifier: nn.Module | None) -> BlackBoxClassifier:
    """The black box ``classifier`` (or the registered ``name``), frozen: eval mode, no gradients."""
    if classifier is None:
        from ..plugins import load_classifier

        classifier = load_classifier(name)
    classifier = require_black_box(classifier)
    classifier.eval()
    classifier.requires_grad_(False)
    return classifier


def _image_size(image_size: int | None, classifier: BlackBoxClassifier) -> int:
    if image_size is not None:
        return int(image_size)
    size = classifier.input_size
    if size[0] != size[1]:
        raise InputError(f"cannot infer a square training image size from the classifier's input size {size!r}; "
                         "pass --image-size.")
    return int(size[0])


def _models(config: TrainConfig, ctx: DistContext, classifier: BlackBoxClassifier, given: nn.Module | None) -> Models:
    """The masker (in training mode; its frozen modules stay in eval mode, see TrainableMasker.train), the objective
    and the precision they run in."""
    masker = build_masker(config, classifier.num_classes, given).to(ctx.device)
    masker.train()
    for module in masker.frozen_modules():
        module.requires_grad_(False)
    precision = resolve_precision(config.precision, ctx.device)
    if ctx.is_main and config.progress:
        layout = "on" if config.channels_last else "off"
        tqdm.write(f"precision: {precision.name} ({precision.reason}); channels-last: {layout}")
    if config.channels_last:
        classifier.to(memory_format=torch.channels_last)
        masker.use_memory_format(torch.channels_last)
    objective = build_objective(config, classifier)
    return Models(classifier, masker, objective, precision, config.channels_last, config.compile)


def masker_settings(config: TrainConfig, num_classes: int) -> dict[str, Any]:
    """The keyword arguments that build the masker of ``config.masker``: ``num_classes`` and ``masker_options``;
    for ``saliency_masker`` also the encoder, preset and MaskerConfig overrides of the config."""
    settings: dict[str, Any] = {"num_classes": num_classes}
    if config.masker == SALIENCY_MASKER:
        settings |= {"encoder": config.resolved_encoder(), "preset": config.preset,
                     "encoder_pretrained": config.encoder_pretrained, "class_prior": config.class_prior,
                     **config.masker_overrides}
    if "num_classes" in config.masker_options:
        raise InputError("`masker_options` must not set num_classes: the masker gets the classifier's number "
                         "of classes.")
    settings |= config.masker_options
    return {key: tuple(value) if isinstance(value, list) else value for key, value in settings.items()}


def build_masker(config: TrainConfig, num_classes: int, masker: nn.Module | None) -> TrainableMasker:
    """The masker given (checked, trained as it is), the one ``init_from`` names (its embedding kept), or a new
    masker of the ``config.masker`` architecture with its embedding initialised as ``embedding_init`` says."""
    if masker is not None:
        return _checked_masker(masker, num_classes)
    if config.init_from:
        masker = _checked_masker(load_initial_masker(config.init_from), num_classes)
        masker.set_classifier_name(config.classifier)  # it now explains this run's black box (fine-tuned for another)
        return masker
    from ..maskers import build_trainable_masker

    masker = _checked_masker(build_trainable_masker(config.masker, **masker_settings(config, num_classes)), num_classes)
    masker.set_classifier_name(config.classifier)
    fits = masker.encoder_head_classes() == num_classes
    if config.embedding_init == "encoder_head" or (config.embedding_init == "auto" and fits):
        masker.init_embedding_from_encoder_head()
    return masker


def _checked_masker(masker: nn.Module, num_classes: int) -> TrainableMasker:
    if not isinstance(masker, TrainableMasker):
        raise InputError(f"the masker must be a TrainableMasker (forward_train() and trainable_parameters(), like "
                         f"SaliencyMasker), got {type(masker).__name__}.")
    if masker.num_classes != num_classes:
        raise InputError(f"the masker has {masker.num_classes} class selectors but the classifier "
                         f"{num_classes} classes.")
    return masker


def build_objective(config: TrainConfig, classifier: BlackBoxClassifier) -> SaliencyObjective:
    """The saliency objective with the config's coefficients and evidence remover."""
    from ..plugins import load_evidence_remover

    coefficients = {name: getattr(config, name) for name in OBJECTIVE_FIELDS}
    return SaliencyObjective(classifier, remover=load_evidence_remover(config.remover), **coefficients)


def _train_data(config: TrainConfig, size: int, class_names: list[str]) -> ImageDataset:
    """The training images of ``config.data``: one data set, or several joined (labels mapped to class indices)."""
    parts = [build_dataset(path, size, train=True, kind=config.data_kind, augment=config.augment,
                           crop_scale=config.crop_scale, whole_view_prob=config.whole_view_prob)
             for path in config.data_paths()]
    if len(parts) == 1:
        return parts[0]
    if config.labels == "dataset":
        for part in parts:
            if not part.labelled:
                raise InputError(f"the training data {part.source} has no labels (or some are missing); "
                                 "train with --labels blackbox.")
        return ConcatImages(parts, [align_labels(part, class_names) for part in parts])
    return ConcatImages(parts)


def _data(config: TrainConfig, ctx: DistContext, classifier: BlackBoxClassifier, size: int,
          given: Given) -> tuple[Feed, ValidationPlan]:
    """The training batches and what validation runs on (built from the config unless given), and how their
    classes are found."""
    class_names = list(classifier.class_names)
    train_data = given.train_data if given.train_data is not None else _train_data(config, size, class_names)
    by_dataset = config.labels == "dataset"
    table = None
    if by_dataset:
        if not train_data.labelled:
            raise InputError(
                f"the training data {train_data.source or config.data} has no labels (or some are missing); "
                "train with the classifier's own predictions as labels: --labels blackbox."
            )
        table = align_labels(train_data, class_names)
    val_given = given.val_data
    val_labelled = val_given is not None and val_given.labelled and by_dataset
    val_table = align_labels(val_given, class_names) if val_labelled else None
    val_data = open_validation_data(config.val_data, val_given, size, val_table)
    labels = Labels(classifier, not by_dataset, None if table is None else torch.as_tensor(table, device=ctx.device),
                    val_data is not None and by_dataset and val_data.has_labels)
    sampler = ResumableBatchSampler(len(train_data), config.batch_size, config.seed, ctx.rank, ctx.world_size)
    loader = DataLoader(
        train_data,
        batch_sampler=sampler,
        num_workers=_num_workers(config, ctx),
        pin_memory=ctx.device.type == "cuda",
        generator=torch.Generator(),  # keeps the loader from drawing on the global RNG
        persistent_workers=False,
    )
    validation = ValidationPlan(val_data, labels.val_target, config.val_size,
                                config.val_batch_size or config.batch_size, config.select_metric)
    return Feed(train_data, labels, sampler, loader), validation


def _num_workers(config: TrainConfig, ctx: DistContext) -> int:
    if config.num_workers >= 0:
        return config.num_workers
    cores = (os.cpu_count() or 2) // ctx.world_size
    if ctx.device.type != "cuda":
        # one worker decodes and augments the next batch while the step computes (it takes one of the cores only
        # while it works); with one core, or in-memory arrays, loading in the step's process is cheaper
        arrays = config.data_kind == "npz" or all(str(p).endswith(".npz") for p in config.data_paths())
        return 1 if cores >= 2 and not arrays else 0
    return max(0, min(8, cores - 1))


def _record(config: TrainConfig, train_data: ImageDataset, val_data: EvalDataset | None) -> RunRecord:
    """What the run's masker.pt and result.json say about where it came from."""
    return RunRecord(
        classifier=config.classifier,
        encoder=config.encoder,
        data=str(train_data.source or config.data),
        val_data=None if val_data is None else (config.val_data or val_data.description),
        labels=config.labels,
        command_line=config.command_line or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        training_config=config.to_dict(),
    )
