"""The training loop and its step (Dabkowski & Gal 2017, section 4.1).

Per step: a batch of images with their labels (from the data set, or the black box's own top-1); with probability
``fake_prob`` a sample gets a *fake* class selector (a random other class,
:class:`~blackbox_saliency.training.parts.Draws`); the masker's
``forward_train`` gives the masks and class scores, the objective's terms
(:data:`~blackbox_saliency.objective.terms.TERMS`, the class-score term included) give the loss, their mean.
Only the masker's trainable parameters learn; its frozen modules and the classifier stay frozen.

Every random draw of a step comes from a generator seeded with ``(seed, step, rank)``, so a resumed run continues
exactly like an uninterrupted one. The loop validates (:func:`validate_now`) and checkpoints
(:func:`~blackbox_saliency.training.resume.save_checkpoint`) on the run's
:class:`~blackbox_saliency.training.parts.Schedule`.

Example:
    >>> import torch
    >>> from blackbox_saliency.maskers import SaliencyMasker
    >>> from blackbox_saliency.training.loop import TrainForward
    >>> from blackbox_saliency.training.precision import resolve_precision
    >>> masker = SaliencyMasker(10, encoder="resnet18", encoder_pretrained=False, preset="fast")
    >>> forward = TrainForward(masker, resolve_precision("fp32", torch.device("cpu")), channels_last=False)
    >>> masks, scores = forward(torch.rand(2, 3, 64, 64), torch.tensor([1, 2]))
    >>> masks.dtype, tuple(scores.shape)
    (torch.float32, (2,))
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..input_checks import check_images, skip_input_checks
from ..interfaces import TrainableMasker
from ..objective import TermInputs
from .distributed import DistContext
from .meter import validation_line
from .parts import Models, Run
from .precision import PrecisionChoice
from .resume import save_checkpoint
from .run_folder import BEST_NAME
from .validation import validate

__all__ = ["TrainForward", "train_loop", "validate_now", "wrap_model"]


class TrainForward(nn.Module):
    """What DDP wraps: ``masker.forward_train`` as ``forward`` (so DDP's gradient hooks are armed).

    The masker runs under the chosen autocast precision and, optionally, on channels-last images; the masks and
    scores come out in float32.
    """

    def __init__(self, masker: TrainableMasker, precision: PrecisionChoice, channels_last: bool) -> None:
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


def wrap_model(models: Models, ctx: DistContext) -> nn.Module:
    """The masker's training forward as a step calls it: in the run's precision, maybe compiled, under DDP when
    distributed."""
    model: nn.Module = TrainForward(models.masker, models.precision, models.channels_last)
    if models.compile:
        model = torch.compile(model)
    if ctx.distributed:
        model = DistributedDataParallel(model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None,
                                        broadcast_buffers=False)
    return model


def train_loop(run: Run) -> None:
    """Step until ``steps``, epoch after epoch from the saved data position; validate and checkpoint on schedule
    and at the end."""
    schedule, progress = run.parts.schedule, run.progress
    bar = tqdm(total=schedule.steps, initial=min(progress.step, schedule.steps), desc="train", dynamic_ncols=True,
               disable=not (run.ctx.is_main and schedule.progress))
    run.meter.start_step = progress.step
    done = {"val": -1, "checkpoint": -1}  # the steps the last validation and checkpoint were at
    if progress.step == 0 and schedule.val_every:  # where training starts (the prior, if the masker has one) is a row
        progress.metrics = validate_now(run) or progress.metrics
    try:
        while progress.step < schedule.steps:
            _epoch(run, bar, done)
        if done["val"] != progress.step:
            progress.metrics = validate_now(run) or progress.metrics
        if done["checkpoint"] != progress.step:
            save_checkpoint(run)
    finally:
        bar.close()


def _epoch(run: Run, bar: tqdm, done: dict[str, int]) -> None:
    """The rest of the current epoch (or up to ``steps``), with the logging, validations and checkpoints due in it."""
    schedule, progress = run.parts.schedule, run.progress
    run.parts.feed.sampler.set_position(progress.epoch, progress.batch_in_epoch)
    tick = time.perf_counter()
    for images, labels in run.parts.feed.loader:
        _step(run, images, labels, tick)
        bar.update(1)
        step = progress.step
        if step % schedule.log_every == 0 or step == schedule.steps:
            _log_progress(run, bar)
        if schedule.val_every and step % schedule.val_every == 0 and step < schedule.steps:
            progress.metrics = validate_now(run) or progress.metrics
            done["val"] = step
        if schedule.checkpoint_every and step % schedule.checkpoint_every == 0:
            save_checkpoint(run)
            done["checkpoint"] = step
        if step >= schedule.steps:
            return
        tick = time.perf_counter()
    progress.epoch += 1
    progress.batch_in_epoch = 0


def _step(run: Run, images: torch.Tensor, labels: torch.Tensor, tick: float) -> None:
    """One optimisation step on a loaded batch, its random draws seeded by ``(seed, step, rank)``; timed from
    ``tick``."""
    parts, progress, meter, device = run.parts, run.progress, run.meter, run.ctx.device
    waited = time.perf_counter() - tick
    if not run.images_checked:  # where data enter: once, not in every call of every step
        check_images(images, name="training images")
        run.images_checked = True
    images = images.to(device, non_blocking=True)
    classes = parts.feed.labels.train(images, labels.to(device, non_blocking=True))
    selectors, fake = parts.draws.selectors(classes, progress.step)
    generator = parts.draws.objective_generator(progress.step)
    meter.lr = parts.optimisation.lr
    masks, scores = run.model(images, selectors)
    batch = TermInputs(images, masks, selectors, fake=fake, class_scores=scores, generator=generator)
    with parts.models.precision.autocast(), skip_input_checks():  # the data were checked where they entered
        terms = parts.models.objective.evaluate(batch)
    loss = terms.total.float().mean()
    parts.optimisation.step(loss)
    progress.step += 1
    progress.batch_in_epoch += 1
    meter.add(loss, terms)
    meter.time_step(progress.step, parts.schedule.steps, tick, waited, images.shape[0] * run.ctx.world_size)


def _log_progress(run: Run, bar: tqdm) -> None:
    """Check and log the mean losses since the last log line, with the rate and the throughput."""
    meter, step = run.meter, run.progress.step
    meter.check_finite(step, run.parts.schedule.log_every)
    losses = meter.flush()
    speed, wait = meter.rates()
    bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()} | {"img/s": f"{speed:.1f}", "data wait": f"{wait:.0%}"})
    run.log.write({"step": step, "epoch": run.progress.epoch, "lr": meter.lr, "loss": losses, "images_per_s": speed,
                   "data_wait_share": wait})


def validate_now(run: Run) -> dict[str, Any]:
    """The evaluation runner's numbers on the validation subset (rank 0; the central box once), logged;
    ``best.pt`` on a new best."""
    plan, models, progress = run.parts.validation, run.parts.models, run.progress
    result: dict[str, Any] = {}
    if plan.data is not None and run.ctx.is_main:
        from ..baselines.boxes import CenterBoxMasker

        baselines = {"center": CenterBoxMasker()} if run.baseline is None else None
        result = validate(models.masker, models.classifier, plan.data, limit=plan.limit, batch_size=plan.batch_size,
                          target=plan.target, baselines=baselines)
        if run.baseline is None:
            run.baseline = result.pop("baselines")
        result["baselines"] = run.baseline
        improved = progress.best.update(result.get(progress.best.metric), progress.step)
        if improved:
            run.folder.write_masker(models.masker, BEST_NAME, progress.step, {"selected_by": progress.best.state()})
        result["best"] = progress.best.state()
        run.log.write({"step": progress.step, "val": result, "new_best": improved})
        if run.parts.schedule.progress:
            tqdm.write(validation_line(progress.step, result, run.baseline["center"], improved))
    run.ctx.barrier()
    return result
