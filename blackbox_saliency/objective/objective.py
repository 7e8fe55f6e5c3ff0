"""The paper's saliency objective, every term returned separately.

``L(M) = tv_coef*TV(M) + area_coef*AV(M)**area_power - log f_c(phi(X, M))``
``+ destroy_coef * f_c(phi(X, 1-M))**destroy_power``
``+ crop_coef * (-log f_c(crop(X, box(M))) + log max(area(box(M)), 0.05))`` (our extension, off by default: the
saliency metric made differentiable, see :mod:`~blackbox_saliency.objective.crop_preserve`)
``+ aux_coef * BCE(s, real)`` (the masker's class score ``s`` pushed up for true class selectors and down for fake
ones; only when the class scores are passed, as the trainer does).

The terms are the list :data:`~blackbox_saliency.objective.terms.TERMS` (see :mod:`~blackbox_saliency.objective.terms`);
``total`` is their sum per sample, and the trainer's loss is its mean.

Defaults and why:

* ``destroy_coef=5``, ``destroy_power=0.3``: the paper's lambda_3 and lambda_4; a power
  below 1 keeps pushing the destroyed image's probability towards 0.
* ``area_coef=3`` with ``AV`` the *mean* of the mask (so it lies in [0, 1] whatever the
  resolution); the paper's per-pixel coefficient on a 56 x 56 mask is of this order.
* ``tv_coef=1`` with ``TV`` the mean squared neighbour difference, which keeps masks blobby
  without making them blurry.
* ``area_power=1`` (the paper); the reference code's variant raises the area to 0.3.

Fake selectors (``fake[i]`` True) contribute the area term (and the class-score term) only.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from blackbox_saliency.interfaces import BlackBoxClassifier
    >>> from blackbox_saliency.objective import SaliencyObjective
    >>> net = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), (8, 8), list("abcd"))
    >>> objective = SaliencyObjective(net)
    >>> terms = objective(torch.rand(2, 3, 8, 8), torch.rand(2, 1, 4, 4), torch.tensor([0, 3]))
    >>> terms.total.shape, objective.names
    (torch.Size([2]), ('tv', 'area', 'preserve', 'destroy', 'crop', 'aux'))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..input_checks import (
    check_classes,
    check_generator,
    check_images,
    check_masks,
    check_same_batch,
    check_same_spatial,
    input_checks_enabled,
)
from ..interfaces import EvidenceRemover, require_black_box
from .terms import ObjectiveTerms, Term, TermInputs, registered_terms

__all__ = ["ObjectiveSettings", "ObjectiveTerms", "SaliencyObjective", "VARIANTS"]

VARIANTS = ("paper", "reference")


@dataclass(frozen=True)
class ObjectiveSettings:
    """The settings of :class:`SaliencyObjective` (the paper's hyperparameters; the module docs say why these defaults).

    Attributes:
        tv_coef: weight of the total variation.
        area_coef: weight of the area term.
        destroy_coef: weight of the destroyed-image term.
        destroy_power: power of the destroyed image's probability.
        area_power: power of the area (None: the variant's default, 1 or 0.3).
        variant: ``"paper"`` (log-probabilities) or ``"reference"`` (our reading of the reference code: area raised
            to ``area_power`` 0.3 by default, and a hinge on logits ``relu(z_c - max_{k != c} z_k + margin)`` for the
            destroyed image).
        hinge_margin: margin of the reference variant's hinge.
        crop_coef: weight of the crop-preserve term (0 = off; one more black-box pass per real selector).
        aux_coef: weight of the class-score cross-entropy (used when :meth:`SaliencyObjective.evaluate` is given
            class scores).

    Example:
        >>> ObjectiveSettings().destroy_coef, ObjectiveSettings(variant="reference").resolved_area_power
        (5.0, 0.3)
    """

    tv_coef: float = 1.0
    area_coef: float = 3.0
    destroy_coef: float = 5.0
    destroy_power: float = 0.3
    area_power: float | None = None
    variant: str = "paper"
    hinge_margin: float = 1.0
    crop_coef: float = 0.0
    aux_coef: float = 1.0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise InputError(f"`variant` must be one of {VARIANTS}, got {self.variant!r}.")
        _check_non_negative({name: getattr(self, name) for name in WEIGHTS + ("destroy_power",)})

    @property
    def resolved_area_power(self) -> float:
        """``area_power``, or the variant's default when it is None."""
        return float(self.area_power if self.area_power is not None else (0.3 if self.variant == "reference" else 1.0))


#: The settings that weigh the built-in terms.
WEIGHTS = ("tv_coef", "area_coef", "destroy_coef", "crop_coef", "aux_coef")


class SaliencyObjective(nn.Module):
    """Objective of Dabkowski & Gal (2017) for masks of a black-box classifier.

    Args:
        classifier: the black box (used only through its outputs).
        remover: evidence remover drawing the alternative image; default ``paper``.
        terms: the terms to sum (default: the registered :data:`~blackbox_saliency.objective.terms.TERMS`).
        settings: :class:`ObjectiveSettings` fields (``tv_coef=2.0``, ``variant="reference"``...), and the weights
            of added terms by their :attr:`Term.weight <blackbox_saliency.objective.terms.Term.weight>` names.

    Raises:
        InputError: an unknown setting, or a value out of range.
    """

    def __init__(self, classifier: nn.Module, remover: EvidenceRemover | None = None, *,
                 terms: Sequence[Term] | None = None, **settings: Any) -> None:
        super().__init__()
        known = {f.name for f in fields(ObjectiveSettings)}
        added = {name: value for name, value in settings.items() if name not in known}
        _check_non_negative(added)
        self.settings = ObjectiveSettings(**{name: value for name, value in settings.items() if name in known})
        if remover is None:
            from ..evidence.removers import PaperRemover

            remover = PaperRemover()
        self.classifier = require_black_box(classifier, "objective's classifier")
        self.remover = remover
        for name in WEIGHTS + ("destroy_power", "hinge_margin"):
            setattr(self, name, float(getattr(self.settings, name)))
        self.variant = self.settings.variant
        self.area_power = self.settings.resolved_area_power
        self.terms: tuple[Term, ...] = registered_terms() if terms is None else tuple(terms)
        self.weights = _term_weights(self.terms, {name: getattr(self, name) for name in WEIGHTS}, added)

    @property
    def names(self) -> tuple[str, ...]:
        """The names of this objective's terms, in order (the keys of its :class:`ObjectiveTerms`)."""
        return tuple(term.name for term in self.terms)

    def forward(
        self,
        images: torch.Tensor,
        masks: torch.Tensor,
        classes: torch.Tensor,
        fake: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        alternative: torch.Tensor | None = None,
    ) -> ObjectiveTerms:
        """Evaluate every term for masks (B, 1, h, w) (any resolution; upsampled to the images).

        ``alternative`` may be given to fix ``A``; otherwise the remover draws it anew, for the real
        selectors' images only. Fake selectors (``fake[i]`` True) get the area term alone, and their
        images never reach the black box. ``fake`` may live on the CPU for images on another device
        (the trainer draws it there, so picking the real images needs no device-to-host copy).
        The inputs are checked unless inside :func:`~blackbox_saliency.input_checks.skip_input_checks`
        (the training step validates its data where it enters).
        """
        batch = TermInputs(images, masks, classes, fake=fake, alternative=alternative, generator=generator)
        return self.evaluate(batch)

    def evaluate(self, batch: TermInputs) -> ObjectiveTerms:
        """Every term of ``batch``, as :meth:`forward` (which calls this); class scores turn the ``aux`` term on.

        Example:
            >>> import torch
            >>> from torch import nn
            >>> from blackbox_saliency.interfaces import BlackBoxClassifier
            >>> from blackbox_saliency.objective import SaliencyObjective, TermInputs
            >>> net = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)), (8, 8), ["a", "b"])
            >>> batch = TermInputs(torch.rand(2, 3, 8, 8), torch.rand(2, 1, 4, 4), torch.tensor([0, 1]),
            ...                    fake=torch.tensor([False, True]), class_scores=torch.zeros(2))
            >>> terms = SaliencyObjective(net).evaluate(batch)
            >>> terms.preserve[1].item(), round(terms.aux[1].item(), 4)  # a fake selector: no preserve term
            (0.0, 0.6931)
        """
        if input_checks_enabled():
            _check_inputs(batch, self.classifier.num_classes)
        size = batch.masks.shape[0]
        zeros = batch.masks.new_zeros(size)
        real_index = _real_index(batch.fake, size, batch.images.device)
        real = batch if real_index is None else batch.subset(real_index)
        real = replace(real, fake=None, remover=self.remover, logits={})
        everyone = replace(batch, remover=None, logits={})
        has_real = real_index is None or real_index.numel() > 0
        active = [term for term in self.terms
                  if (term.on_fake or has_real) and term.is_active(self, everyone if term.on_fake else real)]
        self._score_shown(real, [term for term in active if not term.on_fake])
        values = {}
        for term in self.terms:
            if term not in active:
                values[term.name] = torch.zeros_like(zeros)
            elif term.on_fake or real_index is None:
                values[term.name] = self._weighted(term, everyone if term.on_fake else real)
            else:
                values[term.name] = zeros.index_put((real_index,), self._weighted(term, real).to(zeros.dtype))
        return ObjectiveTerms(values, sum(values.values(), zeros))

    def _weighted(self, term: Term, batch: TermInputs) -> torch.Tensor:
        value = term.compute(self, batch)
        if term.weight is not None:
            value = self.weights[term.name] * value
        return value.to(batch.masks.dtype)

    def _score_shown(self, batch: TermInputs, terms: list[Term]) -> None:
        """One black-box call on every image the ``terms`` show; the logits (float32) go to ``batch.logits`` by name."""
        shown: dict[str, torch.Tensor] = {}
        for term in terms:
            if term.shows is not None:
                shown.update(term.shows(self, batch))
        if not shown:
            return
        logits = self.classifier(torch.cat(list(shown.values()), dim=0))
        if logits.dtype in (torch.float16, torch.bfloat16):  # autocast: losses are computed in float32
            logits = logits.float()
        batch.logits = dict(zip(shown, logits.split([len(images) for images in shown.values()])))


def _check_non_negative(values: dict[str, object]) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InputError(f"`{name}` must be a finite number >= 0, got {value!r}.")


def _term_weights(terms: tuple[Term, ...], settings: dict[str, float], added: dict[str, float]) -> dict[str, float]:
    """Each term's weight by name: its setting's value, else its default (terms without a setting weigh 1)."""
    names = [term.name for term in terms]
    if len(set(names)) != len(names):
        raise InputError(f"the objective's terms must have distinct names, got {names}.")
    unknown = sorted(set(added) - {term.weight for term in terms})
    if unknown:
        known = sorted(term.weight for term in terms if term.weight)
        raise InputError(f"unknown objective setting(s) {unknown}; the terms are weighted by {known}.")
    values = {**settings, **added}
    return {term.name: 1.0 if term.weight is None else float(values.get(term.weight, term.default_weight))
            for term in terms}


def _real_index(fake: torch.Tensor | None, size: int, device: torch.device) -> torch.Tensor | None:
    """Indices of the real selectors on ``device`` (None: all of them are real)."""
    if fake is None:
        return None
    index = torch.nonzero(~fake.detach()).squeeze(1).to(device, non_blocking=True)
    return None if index.numel() == size else index


def _check_inputs(batch: TermInputs, num_classes: int) -> None:
    """InputError naming the first argument that is not what the objective takes."""
    images, masks = batch.images, batch.masks
    check_images(images)
    check_masks(masks)
    check_classes(batch.classes, num_classes)
    check_same_batch(images=images, masks=masks, classes=batch.classes)
    check_generator(batch.generator, images.device)
    if masks.dtype != images.dtype:
        raise InputError(f"`masks` has dtype {masks.dtype} but `images` has {images.dtype}; "
                         "use `masks.to(images.dtype)`.")
    size = images.shape[0]
    for name in ("fake", "class_scores"):
        value = getattr(batch, name)
        dtypes = (torch.bool,) if name == "fake" else (torch.float16, torch.bfloat16, torch.float32, torch.float64)
        wrong = not isinstance(value, torch.Tensor) or value.dtype not in dtypes or tuple(value.shape) != (size,)
        if value is not None and wrong:
            shown = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            kind = "bool" if name == "fake" else "floating-point"
            raise InputError(f"`{name}` must be a {kind} tensor of shape ({size},), got {shown}.")
    if batch.alternative is not None:
        check_images(batch.alternative, name="alternative")
        check_same_batch(images=images, alternative=batch.alternative)
        check_same_spatial(images, batch.alternative, "images", "alternative")
        if batch.alternative.dtype != images.dtype:
            raise InputError(f"`alternative` has dtype {batch.alternative.dtype} but `images` has {images.dtype}; "
                             "cast one of them.")
