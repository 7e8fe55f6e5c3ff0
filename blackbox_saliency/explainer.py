"""``bs.explain``: masks, boxes and probabilities for images or image files, in one call.

The images are read and prepared by :mod:`~blackbox_saliency.explain_inputs`; the answer is an
:class:`~blackbox_saliency.explain_result.ExplainResult`.

Example:
    >>> import torch, blackbox_saliency as bs
    >>> from torch import nn
    >>> net = bs.BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.LazyLinear(3)), (8, 8), ["a", "b", "c"])
    >>> center = bs.load_masker("center", classifier=net)
    >>> result = bs.explain(torch.rand(2, 3, 8, 8), masker=center, classifier=net, topk=2)
    >>> tuple(result.masks.shape), tuple(result.classes.shape), tuple(result.boxes.shape)
    ((2, 2, 8, 8), (2, 2), (2, 2, 4))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from .devices import module_device
from .errors import InputError, PluginError
from .explain_inputs import image_sources, prepared_batches
from .explain_result import ExplainResult
from .interfaces import BlackBoxClassifier, Masker, require_black_box

__all__ = [
    "DEFAULT_MASKER",
    "class_name_of",
    "explain",
    "explain_batch",
    "load_masker_and_classifier",
    "shipped_masker_path",
]

DEFAULT_MASKER = "efficientnet_lite0"


def shipped_masker_path(name: str) -> Path:
    """Where a shipped masker named ``name`` lives inside the installed package (``assets/maskers/<name>.pt``).

    Example:
        >>> shipped_masker_path("efficientnet_lite0").name
        'efficientnet_lite0.pt'
    """
    from .maskers import plugin

    return plugin.ASSETS_DIR / f"{name}.pt"


def load_masker_and_classifier(
    masker: Masker | str | os.PathLike[str],
    classifier: nn.Module | str | None = None,
    *,
    classifier_hint: str = "pass classifier=NAME or a BlackBoxClassifier",
    allow_mismatch: bool = False,
) -> tuple[Masker, BlackBoxClassifier]:
    """Load a masker and its black box, and check that they agree on the number of classes.

    Args:
        masker: a :class:`Masker`, a registered masker name or a checkpoint path; a baseline's name (``"cam"``,
            ``"gradcam"``, ``"gradient"``, ``"center"``, ...) builds that baseline for ``classifier``.
        classifier: the black box: a :class:`BlackBoxClassifier`, a registered name, or None for the one
            the masker records (its ``classifier_name``, written when it was trained).
        classifier_hint: how the error messages tell the caller to choose the black box (the commands
            say ``pass --classifier NAME``).
        allow_mismatch: no :class:`~blackbox_saliency.errors.ClassifierMismatchWarning` when the masker records another
            black box than ``classifier`` (its masks then explain the black box it was trained for, not this one).

    Raises:
        InputError: the masker records no black box and none is given, or the two disagree on the number of classes.
        PluginError: an unknown name (for a masker name, the message says where a shipped masker of that name
            would be), or a masker plugin that does not build a :class:`Masker`.

    Example:
        >>> from torch import nn
        >>> from blackbox_saliency.explainer import load_masker_and_classifier
        >>> from blackbox_saliency.interfaces import BlackBoxClassifier
        >>> box = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.LazyLinear(2)), (8, 8), ["a", "b"])
        >>> masker, classifier = load_masker_and_classifier("center", box)
        >>> classifier is box, type(masker).__name__
        (True, 'CenterBoxMasker')
    """
    from .baselines.plugin import BASELINES
    from .maskers.loading import load_masker
    from .plugins import load_classifier

    if isinstance(masker, str) and masker in BASELINES:  # "cam", "gradcam", ...: computed from the black box given
        if classifier is None:
            raise InputError(f"the {masker!r} baseline is computed from the black box you explain; {classifier_hint}.")
        classifier = require_black_box(load_classifier(classifier) if isinstance(classifier, str) else classifier)
        return load_masker(masker, classifier=classifier), classifier
    label = type(masker).__name__ if isinstance(masker, Masker) else repr(str(masker))
    masker = _as_masker(masker, label)
    if classifier is None:
        if not masker.classifier_name:
            raise InputError(f"the masker {label} does not record which black box it explains; {classifier_hint}.")
        classifier = masker.classifier_name
    classifier_label = repr(classifier) if isinstance(classifier, str) else type(classifier).__name__
    classifier = require_black_box(load_classifier(classifier) if isinstance(classifier, str) else classifier)
    if not allow_mismatch:
        _warn_if_trained_for_another(masker, classifier, label)
    if masker.num_classes is not None and masker.num_classes != classifier.num_classes:
        raise InputError(
            f"the masker {label} knows {masker.num_classes} classes but the classifier {classifier_label} has "
            f"{classifier.num_classes}; a masker explains the black box it was trained for: {classifier_hint}."
        )
    return masker, classifier


def _as_masker(masker: object, label: str) -> Masker:
    """``masker`` itself, or the masker its name or path loads (PluginError saying where a shipped one would be)."""
    from .maskers.loading import load_masker, looks_like_path

    if isinstance(masker, Masker):
        return masker
    if not isinstance(masker, (str, os.PathLike)):
        raise InputError(
            f"`masker` must be a Masker, a registered masker name or a checkpoint path, got {type(masker).__name__} "
            f"{masker!r:.60}."
        )
    try:
        loaded = load_masker(masker)
    except PluginError as error:
        if looks_like_path(masker):
            raise
        raise PluginError(f"{error} (a shipped masker would be the file {shipped_masker_path(str(masker))}.)") from None
    if not isinstance(loaded, Masker):
        raise PluginError(f"the masker {label} loaded as {type(loaded).__name__}, not a blackbox_saliency Masker.")
    return loaded


def _warn_if_trained_for_another(masker: Masker, classifier: BlackBoxClassifier, label: str) -> None:
    """ClassifierMismatchWarning when the masker records a black box other than the one registered as ``classifier``."""
    import warnings

    from .errors import ClassifierMismatchWarning

    given = getattr(classifier, "registered_name", None)
    trained_for = masker.classifier_name
    if trained_for and given and given != trained_for:
        warnings.warn(
            f"the masker {label} was trained for the black box {trained_for!r}, not {given!r}: its masks show what "
            f"{trained_for!r} relies on. Train a masker for {given!r} (`blackbox-saliency train --classifier "
            f"{given}`), "
            "use a baseline computed from it (masker='cam' or 'gradcam'), or pass allow_mismatch=True if this is "
            "intended.",
            ClassifierMismatchWarning,
            stacklevel=4,
        )


def class_name_of(classifier: BlackBoxClassifier, index: int) -> str:
    """The black box's name of class ``index``, or ``"class N"`` when it has none."""
    names = classifier.class_names
    return names[index] if 0 <= index < len(names) else f"class {index}"


def explain_batch(
    images: torch.Tensor, masker: Masker, classifier: nn.Module, classes: torch.Tensor | None = None, topk: int = 1
) -> ExplainResult:
    """One forward batch: (B, 3, H, W) images on the models' device, ``classes`` (B,) or the black box's top-``topk``.

    The building block of :func:`explain` and of the ``explain`` command (no batching, no model loading).
    """
    from .metrics import saliency_metric

    with torch.no_grad():
        probs = torch.softmax(classifier(images).float(), dim=1)
        picked = probs.topk(min(topk, probs.shape[1]), dim=1).indices if classes is None else classes.reshape(-1, 1)
        flat_images = images.repeat_interleave(picked.shape[1], dim=0)
        flat_classes = picked.reshape(-1)
        masks = masker(flat_images, flat_classes).clamp(0, 1)
        metric = saliency_metric(classifier, flat_images, masks, flat_classes)
    shape = tuple(picked.shape)
    return ExplainResult(
        images=images,
        classes=picked,
        masks=masks.reshape(*shape, *masks.shape[-2:]),
        probs=probs.gather(1, picked),
        boxes=metric.boxes.reshape(*shape, 4),
        saliency=metric.s.reshape(shape),
        areas=metric.area.reshape(shape),
        box_probs=metric.prob.reshape(shape),
        class_names=[[class_name_of(classifier, c) for c in row] for row in picked.tolist()],
    )


def _class_indices(classes: object, classifier: BlackBoxClassifier) -> torch.Tensor:
    """``classes`` as int64 class indices: ints (a tensor or a sequence) or class names; never a silently truncated
    float."""
    if isinstance(classes, torch.Tensor):
        if torch.is_floating_point(classes) or classes.dtype == torch.bool:
            raise InputError(
                f"`classes` must hold integer class indices, got a {classes.dtype} tensor; use .long() if they are "
                "whole numbers."
            )
        return classes.to(torch.int64)
    if isinstance(classes, (str, int)) or not isinstance(classes, (list, tuple)):
        raise InputError(
            f"`classes` must be a sequence (one class per image) or an int64 tensor, got {type(classes).__name__}."
        )
    return torch.tensor([classifier.class_index(c) for c in classes], dtype=torch.int64)


def explain(  # noqa: PLR0913 (the public entry point: every option is keyword-documented API)
    inputs: torch.Tensor | str | os.PathLike[str] | Sequence[object],
    masker: Masker | str | os.PathLike[str] = DEFAULT_MASKER,
    classifier: nn.Module | str | None = None,
    classes: torch.Tensor | Sequence[int] | None = None,
    topk: int | None = None,
    batch_size: int = 16,
    allow_mismatch: bool = False,
    progress: bool = True,
) -> ExplainResult:
    """Explain images (a (B, 3, H, W) tensor in [0, 1]) or image files / folders / PIL images / arrays.

    Args:
        inputs: a tensor (used as it is, on its device) or paths, folders, globs, PIL images, numpy arrays
            (each read and prepared with the classifier's evaluation transform, e.g. resize 256 + centre crop 224).
        masker: a Masker, a registered name or a checkpoint path (default: the shipped ImageNet masker), or a baseline's
            name (``"cam"``, ``"gradcam"``, ``"gradient"``, ``"center"``) computed for ``classifier``.
        classifier: the black box (default: the one the masker was trained for), a name or a module.
        classes: one class per image to explain; default: the black box's top-K (``topk``, default 1).
        topk: explain the top-K classes of each image (not with ``classes``).
        batch_size: images per forward pass.
        allow_mismatch: no warning when ``masker`` was trained for another black box than ``classifier``.
        progress: a progress bar when there is more than one batch (files are read, prepared and explained one batch
            at a time, so a folder never sits in memory at full size).

    The models are moved to the images' device and put in eval mode.

    Example:
        >>> import blackbox_saliency as bs  # doctest: +SKIP
        >>> result = bs.explain("photos/", topk=3)  # doctest: +SKIP
        >>> result.masks.shape  # (B, 3, 224, 224)  # doctest: +SKIP
    """
    k = _checked_topk(classes, topk, batch_size)
    masker, classifier = load_masker_and_classifier(masker, classifier, allow_mismatch=allow_mismatch)
    tensor, items = image_sources(inputs)
    device = tensor.device if tensor is not None else module_device(masker)
    masker, classifier = masker.to(device).eval(), classifier.to(device).eval()
    if k > classifier.num_classes > 0:
        raise InputError(f"`topk`={k} but the black box has only {classifier.num_classes} classes.")
    count = tensor.shape[0] if tensor is not None else len(items)
    chosen = None
    if classes is not None:
        chosen = _class_indices(classes, classifier).to(device).reshape(-1, 1)
        if chosen.shape[0] != count:
            raise InputError(f"`classes` has {chosen.shape[0]} entries for {count} images; pass one class per image.")
    if tensor is not None:
        batches = (tensor[start : start + batch_size] for start in range(0, count, batch_size))
    else:
        batches = prepared_batches(items, classifier, batch_size)
    show_bar = progress and count > batch_size
    parts = _explain_batches(batches, masker, classifier, chosen, k, total=count if show_bar else None)
    keys = ("classes", "masks", "probs", "boxes", "saliency", "areas", "box_probs")
    joined = {key: torch.cat([getattr(part, key) for _, part in parts]) for key in keys}
    class_names = [row for _, part in parts for row in part.class_names]
    shown = (
        tensor if tensor is not None else torch.cat([images for images, _ in parts])
    )  # a tensor input is returned as it is
    return ExplainResult(images=shown, class_names=class_names, **joined)


def _checked_topk(classes: object, topk: int | None, batch_size: int) -> int:
    """The number of classes to explain per image; InputError for conflicting or malformed options."""
    if classes is not None and topk is not None:
        raise InputError("pass `classes` or `topk`, not both.")
    k = 1 if topk is None else topk
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"`topk` must be a positive int, got {topk!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"`batch_size` must be a positive int, got {batch_size!r}.")
    return k


def _explain_batches(
    batches: Iterable[torch.Tensor],
    masker: Masker,
    classifier: nn.Module,
    chosen: torch.Tensor | None,
    k: int,
    total: int | None,
) -> list[tuple[torch.Tensor, ExplainResult]]:
    """``(images, explain_batch(...))`` per batch, on the models' device; a progress bar over ``total`` images when
    given."""
    from tqdm.auto import tqdm

    device = module_device(masker, default=module_device(classifier))
    parts, done = [], 0
    with tqdm(total=total, unit="image", desc="explain", disable=total is None) as bar:
        for images in batches:
            images = images.to(device)
            picked = None if chosen is None else chosen[done : done + images.shape[0]]
            parts.append((images, explain_batch(images, masker, classifier, picked, k)))
            done += images.shape[0]
            bar.update(images.shape[0])
    return parts
