"""The objective's terms: one list, :data:`TERMS`, that the objective sums and the trainer logs by name.

A :class:`Term` is a name, a function giving its per-sample value, the objective setting that weighs it,
whether it applies to fake class selectors, and the images it needs the black box to score (the
objective shows the images of all its terms to the black box in one call). The built-in terms, in order:

* ``tv``: total variation of the mask (weight ``tv_coef``);
* ``area``: mean of the mask, raised to ``area_power`` (``area_coef``; fake selectors too);
* ``preserve``: ``-log p(class | preserved image)`` (weight 1);
* ``destroy``: ``p(class | destroyed image) ** destroy_power``, or the reference variant's hinge (``destroy_coef``);
* ``crop``: the saliency metric on a soft box of the mask (``crop_coef``, off at 0);
* ``aux``: binary cross-entropy of the masker's class score, pushed up for true selectors and down for fake
  ones (``aux_coef``; only when the caller passes the class scores, as the trainer does).

Adding a term is one entry: :func:`register_term` (or a :class:`Term` in the ``terms`` a
:class:`~blackbox_saliency.objective.SaliencyObjective` is given); the objective adds it to ``total``
and the trainer logs it under its name.

Example:
    >>> import torch
    >>> from blackbox_saliency.objective.terms import Term, TermInputs, term_names
    >>> term_names()
    ('tv', 'area', 'preserve', 'destroy', 'crop', 'aux')
    >>> squared = Term("squared_area", lambda objective, batch: batch.masks.flatten(1).mean(1) ** 2, on_fake=True)
    >>> batch = TermInputs(torch.rand(2, 3, 4, 4), torch.full((2, 1, 2, 2), 0.5), torch.tensor([0, 1]))
    >>> squared.compute(None, batch).tolist()
    [0.25, 0.25]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..fast import mask_blend_tv
from .crop_preserve import AREA_FLOOR, crop_soft_boxes, soft_boxes

__all__ = ["TERMS", "ObjectiveTerms", "Term", "TermInputs", "register_term", "registered_terms", "term_names"]


@dataclass(eq=False)
class TermInputs:
    """One batch as the terms see it, and what several terms share (computed once, on first use).

    ``fake`` (bool (B,), may live on the CPU) marks fake class selectors (None: all real); ``class_scores``
    (B,) are the masker's scores of the selected classes (None: the ``aux`` term is off); ``alternative``
    fixes the images with the evidence removed, else ``remover`` draws them with ``generator`` on first use.
    A term that applies only to real selectors sees those alone (``fake`` None); ``logits`` holds the black
    box's logits of each image set the terms showed it, by name (filled by the objective).
    """

    images: torch.Tensor
    masks: torch.Tensor
    classes: torch.Tensor
    fake: torch.Tensor | None = None
    class_scores: torch.Tensor | None = None
    alternative: torch.Tensor | None = None
    generator: torch.Generator | None = None
    remover: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor] | None = None
    logits: dict[str, torch.Tensor] = field(default_factory=dict)

    def subset(self, index: torch.Tensor) -> TermInputs:
        """The samples at ``index`` (all of them real)."""
        def pick(value: torch.Tensor | None) -> torch.Tensor | None:
            return None if value is None else value[index]

        return replace(self, images=self.images[index], masks=self.masks[index], classes=self.classes[index], fake=None,
                       class_scores=pick(self.class_scores), alternative=pick(self.alternative), logits={})

    def removed(self) -> torch.Tensor:
        """The alternative images ``A`` (drawn on first use; only real selectors' images are ever drawn)."""
        if self.alternative is None:
            if self.remover is None:
                raise InputError("a term that applies to fake selectors asked for the alternative image; only terms "
                                 "of real selectors (on_fake=False) may use it.")
            self.alternative = self.remover(self.images, self.generator)
        return self.alternative

    @functools.cached_property
    def blends(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(preserved, destroyed, tv)``: ``X*M + A*(1-M)``, ``X*(1-M) + A*M`` and the masks' total variation,
        in one pass."""
        _, preserved, destroyed, tv = mask_blend_tv(self.masks, self.images, self.removed(), True)
        return preserved, destroyed, tv

    @functools.cached_property
    def boxes(self) -> torch.Tensor:
        """(B, 4) soft boxes of the masks (see :mod:`~blackbox_saliency.objective.crop_preserve`)."""
        return soft_boxes(self.masks)

    def class_logits(self, shown: str) -> torch.Tensor:
        """The black box's logit of every class for the images shown as ``shown`` (float32)."""
        return self.logits[shown]

    def log_prob(self, shown: str) -> torch.Tensor:
        """(B,) ``log p(class | image)`` of the images shown as ``shown``."""
        return F.log_softmax(self.logits[shown], dim=1).gather(1, self.classes.view(-1, 1)).squeeze(1)


#: What a term computes from: the objective (its settings) and the batch.
TermFunction = Callable[[Any, TermInputs], torch.Tensor]


@dataclass(frozen=True)
class Term:
    """One named term of the objective.

    Attributes:
        name: the key in :class:`ObjectiveTerms` and in the trainer's log.
        compute: ``compute(objective, batch) -> (B,)`` unweighted per-sample values.
        weight: the objective setting that weighs it (a :class:`SaliencyObjective` argument such as ``tv_coef``,
            or a new keyword for an added term); None: weight 1.
        default_weight: its weight when the objective is not given that setting (added terms).
        on_fake: whether it applies to fake class selectors too (else they get 0, and it sees the real ones only).
        shows: ``shows(objective, batch) -> {name: images}``, the images it needs the black box to score
            (read back with :meth:`TermInputs.log_prob`); only for terms of real selectors.
        active: ``active(objective, batch) -> bool``; an inactive term is 0 and shows nothing (default: always active).
    """

    name: str
    compute: TermFunction
    weight: str | None = None
    default_weight: float = 1.0
    on_fake: bool = False
    shows: Callable[[Any, TermInputs], dict[str, torch.Tensor]] | None = None
    active: Callable[[Any, TermInputs], bool] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name == "total":
            raise InputError(f"a term's name must be an identifier other than 'total', got {self.name!r}.")
        if self.on_fake and self.shows is not None:
            raise InputError(f"term {self.name!r} applies to fake selectors but shows images to the black box; "
                             "fake selectors' images never reach it (set on_fake=False).")

    def is_active(self, objective: Any, batch: TermInputs) -> bool:
        return self.active is None or bool(self.active(objective, batch))


def _tv(objective: Any, batch: TermInputs) -> torch.Tensor:
    return batch.blends[2]


def _area(objective: Any, batch: TermInputs) -> torch.Tensor:
    area = batch.masks.reshape(batch.masks.shape[0], -1).mean(dim=1)
    return (area + 1e-6).pow(objective.area_power) if objective.area_power != 1.0 else area


def _preserve(objective: Any, batch: TermInputs) -> torch.Tensor:
    return -batch.log_prob("preserved")


def _destroy(objective: Any, batch: TermInputs) -> torch.Tensor:
    logits, index = batch.class_logits("destroyed"), batch.classes.view(-1, 1)
    if objective.variant == "paper":
        return F.softmax(logits, dim=1).gather(1, index).squeeze(1).clamp_min(1e-12).pow(objective.destroy_power)
    target = logits.gather(1, index).squeeze(1)
    others = logits.scatter(1, index, float("-inf")).amax(dim=1)
    return F.relu(target - others + objective.hinge_margin)


def _crop(objective: Any, batch: TermInputs) -> torch.Tensor:
    area = (batch.boxes[:, 2] * batch.boxes[:, 3]).clamp_min(AREA_FLOOR)
    return area.log() - batch.log_prob("crop")


def _crop_view(objective: Any, batch: TermInputs) -> dict[str, torch.Tensor]:
    return {"crop": crop_soft_boxes(batch.images, batch.boxes, tuple(batch.images.shape[-2:]))}


def _class_score(objective: Any, batch: TermInputs) -> torch.Tensor:
    scores = batch.class_scores
    if batch.fake is None:
        real = torch.ones_like(scores)
    else:
        real = (~batch.fake.to(scores.device, non_blocking=True)).to(scores.dtype)
    return F.binary_cross_entropy_with_logits(scores, real, reduction="none")


#: The registered terms, in the order the objective sums them and the trainer logs them.
TERMS: list[Term] = [
    Term("tv", _tv, weight="tv_coef"),
    Term("area", _area, weight="area_coef", on_fake=True),
    Term("preserve", _preserve, shows=lambda objective, batch: {"preserved": batch.blends[0]}),
    Term("destroy", _destroy, weight="destroy_coef", shows=lambda objective, batch: {"destroyed": batch.blends[1]}),
    Term("crop", _crop, weight="crop_coef", shows=_crop_view,
         active=lambda objective, batch: objective.weights["crop"] > 0),
    Term("aux", _class_score, weight="aux_coef", on_fake=True,
         active=lambda objective, batch: batch.class_scores is not None),
]


def register_term(term: Term) -> Term:
    """Add ``term`` to :data:`TERMS` (objectives built afterwards sum it, trainers log it); returns it.

    Raises:
        InputError: a term of that name is registered already.
    """
    if term.name in term_names():
        raise InputError(f"a term named {term.name!r} is registered already; choose another name.")
    TERMS.append(term)
    return term


def registered_terms() -> tuple[Term, ...]:
    """The terms of :data:`TERMS` as they are now (what a new objective sums)."""
    return tuple(TERMS)


def term_names(terms: list[Term] | tuple[Term, ...] | None = None) -> tuple[str, ...]:
    """The names of ``terms`` (default: the registered :data:`TERMS`), in order."""
    return tuple(term.name for term in (TERMS if terms is None else terms))


class ObjectiveTerms:
    """Per-sample (B,) tensors of each weighted term by name (``terms.tv`` or ``terms["tv"]``), and their sum ``total``.

    Example:
        >>> import torch
        >>> terms = ObjectiveTerms({"tv": torch.tensor([1.0]), "area": torch.tensor([2.0])}, torch.tensor([3.0]))
        >>> terms.area.tolist(), list(terms), terms.mean()
        ([2.0], ['tv', 'area'], {'tv': 1.0, 'area': 2.0, 'total': 3.0})
    """

    def __init__(self, values: dict[str, torch.Tensor], total: torch.Tensor) -> None:
        self.values = dict(values)
        self.total = total

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The registered terms' names in order (:func:`term_names`): what an objective computes and a trainer logs."""
        return term_names()

    def __getattr__(self, name: str) -> torch.Tensor:
        values = self.__dict__.get("values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} has no term {name!r}; it has {list(values or ())}.")

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def mean(self) -> dict[str, float]:
        """Batch means of every term and of ``total`` as plain floats (for logging)."""
        means = {name: float(value.detach().mean()) for name, value in self.values.items()}
        return means | {"total": float(self.total.detach().mean())}
