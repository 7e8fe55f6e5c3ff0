"""``bs.explain``: masks, boxes and probabilities for images or image files, in one call.

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
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .data.folders import is_image
from .devices import module_device
from .errors import InputError, PluginError
from .input_checks import check_images
from .interfaces import BlackBoxClassifier, Masker, require_black_box
from .io import IMAGE_SUFFIXES

__all__ = [
    "ExplainResult",
    "class_name_of",
    "explain",
    "explain_batch",
    "image_files",
    "load_masker_and_classifier",
    "prepare_function",
    "shipped_masker_path",
]

DEFAULT_MASKER = "efficientnet_lite0"


@dataclass
class ExplainResult:
    """What :func:`explain` returns; every tensor on the caller's device, K classes per image.

    Attributes:
        images: (B, 3, H, W) the images as the black box saw them (files: after its evaluation transform).
        classes: (B, K) int64 explained classes (top-K order, or the given ones with K = 1).
        masks: (B, K, H, W) saliency masks in [0, 1].
        probs: (B, K) the black box's probability of each explained class.
        boxes: (B, K, 4) tightest box (x0, y0, x1, y1), image pixels) around ``mask > 0.5``.
        saliency: (B, K) the saliency metric of each mask (lower is better).
        areas: (B, K) the area fraction of each box (the metric's first term, before the 0.05 floor).
        box_probs: (B, K) the black box's probability of the class on each box crop (its second term).
        class_names: (B, K) nested list of names (``"class N"`` when the black box has none).
    """

    images: torch.Tensor
    classes: torch.Tensor
    masks: torch.Tensor
    probs: torch.Tensor
    boxes: torch.Tensor
    saliency: torch.Tensor
    areas: torch.Tensor
    box_probs: torch.Tensor
    class_names: list[list[str]]

    def pictures(self, min_side: int = 224) -> list:
        """One overlay (image, heat map, box, caption) per image and class, as ``PIL.Image`` pictures, image by
        image."""
        from .visualize import caption, render_overlays

        batch, k = self.classes.shape
        images = self.images.detach().float().cpu().repeat_interleave(k, dim=0)
        masks = self.masks.detach().float().cpu().reshape(batch * k, 1, *self.masks.shape[-2:])
        captions = [
            caption(self.class_names[i][j], float(self.probs[i, j]), float(self.saliency[i, j]))
            for i in range(batch)
            for j in range(k)
        ]
        return render_overlays(
            images, masks, captions, boxes=self.boxes.detach().float().cpu().reshape(-1, 4), min_side=min_side
        )

    def figure(self, columns: int | None = None, tile_width: int = 256):
        """All overlays in one grid (a ``PIL.Image``), a row per image when K > 1.

        Example:
            >>> import blackbox_saliency as bs, torch  # doctest: +SKIP
            >>> bs.explain(torch.rand(2, 3, 224, 224), topk=2).figure().size  # doctest: +SKIP
        """
        from .visualize import contact_sheet

        k = self.classes.shape[1]
        return contact_sheet(
            self.pictures(), columns=columns or (k if k > 1 else min(4, self.classes.shape[0])), tile_width=tile_width
        )

    def _repr_png_(self) -> bytes:
        """Jupyter shows the result as its :meth:`figure`."""
        import io

        from .visualize import PNG_COMPRESS_LEVEL

        buffer = io.BytesIO()
        self.figure().save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        return buffer.getvalue()

    def show(self):
        """Display the :meth:`figure` (inline in a notebook, else in the system's image viewer); returns it."""
        picture = self.figure()
        try:
            from IPython.display import display

            display(picture)
        except ImportError:
            picture.show()
        return picture

    def save(self, folder: str | os.PathLike[str], overwrite: bool = False) -> list[Path]:
        """Write ``image<i>_class<j>.png`` overlays and ``image<i>_class<j>_mask.npy`` masks into ``folder``;
        existing files are refused unless ``overwrite``. Returns the written paths."""
        import numpy as np

        from .atomic import atomic_write, check_outputs_free
        from .visualize import PNG_COMPRESS_LEVEL

        folder = Path(folder)
        batch, k = self.classes.shape
        stems = [f"image{i}_class{int(self.classes[i, j])}" for i in range(batch) for j in range(k)]
        paths = [folder / f"{stem}{suffix}" for stem in stems for suffix in (".png", "_mask.npy")]
        check_outputs_free(paths, overwrite=overwrite)
        folder.mkdir(parents=True, exist_ok=True)
        masks = self.masks.detach().float().cpu().reshape(batch * k, *self.masks.shape[-2:]).numpy()
        for stem, picture, mask in zip(stems, self.pictures(), masks):
            atomic_write(
                folder / f"{stem}.png",
                lambda handle, picture=picture: picture.save(handle, format="PNG", compress_level=PNG_COMPRESS_LEVEL),
            )
            atomic_write(
                folder / f"{stem}_mask.npy", lambda handle, mask=mask: np.save(handle, mask.astype(np.float32))
            )
        return paths


def image_files(specs: Sequence[str | os.PathLike[str]], skipped: list[str] | None = None) -> list[Path]:
    """Expand files, folders (every image inside, recursively, sorted) and glob patterns into image paths.

    A spec that yields nothing (a folder without images, a pattern that matches no file, a FIFO or
    other non-regular file) is reported in ``skipped`` (a reason each) when it is given and the other
    specs yield photos; without ``skipped`` it raises.

    Raises:
        InputError: a spec yields nothing and ``skipped`` is None, or no spec yields anything.
    """
    import glob

    found: list[Path] = []
    problems: list[str] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if is_image(p))
            found.extend(inside)
            if not inside:
                problems.append(f"the folder {path} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        elif path.exists() and not path.is_file():
            problems.append(f"{path} is not a regular file (a FIFO, socket or device); pass image files or folders")
        elif path.exists():
            found.append(path)
        elif glob.has_magic(str(spec)):
            matches = sorted(
                Path(p) for p in glob.glob(os.path.expanduser(str(spec)), recursive=True) if Path(p).is_file()
            )
            found.extend(matches)
            if not matches:
                problems.append(f"the pattern {spec!r} matches no file")
        else:
            found.append(path)  # reported as unreadable by the reader, with the others still explained
    if problems and (skipped is None or not found):
        raise InputError("; ".join(problems) + ".")
    if skipped is not None:
        skipped.extend(problems)
    return found


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


#: The most pixels an image may become on its way to the black box: a shorter-side resize of a 1 x 20,000 strip would
#: otherwise allocate gigabytes. Such an image is refused (``explain`` skips it with a message).
MAX_PREPARED_PIXELS = 2**24


def _check_aspect(image: torch.Tensor, classifier: BlackBoxClassifier) -> None:
    height, width = int(image.shape[-2]), int(image.shape[-1])
    short = max(1, min(height, width))
    side = max(classifier.input_size) / 0.875  # the usual shorter-side resize before a centre crop
    if side * side * max(height, width) / short > MAX_PREPARED_PIXELS:
        from .errors import ImageReadError

        raise ImageReadError(
            f"the {width}x{height} image is too elongated to explain: its shorter side resized to {side:.0f} px would "
            "make it "
            f"{side * max(height, width) / short:.0f} px long; crop it to a less extreme aspect ratio first."
        )


def prepare_function(classifier: BlackBoxClassifier):
    """(3, H, W) image in [0, 1] -> the tensor the black box is evaluated on (its ``eval_transform``; else unchanged).

    Raises ImageReadError for an image so elongated that the transform would blow it up past
    :data:`MAX_PREPARED_PIXELS`.
    """
    transform = classifier.eval_transform()
    if transform is None:
        return lambda image: image
    from .io import to_pil_image

    def prepare(image: torch.Tensor) -> torch.Tensor:
        _check_aspect(image, classifier)
        return transform(to_pil_image(image))

    return prepare


def _input_items(inputs: object) -> list:
    """One entry per image: a path, folder or glob, a PIL image and a single numpy image (H, W[, C]) are one item
    each (an array is never split into its rows); a (B, H, W, C) array and a list or tuple give their elements."""
    import numpy as np
    from PIL import Image

    if isinstance(inputs, (str, os.PathLike, Image.Image)):
        return [inputs]
    if isinstance(inputs, np.ndarray):
        return list(inputs) if inputs.ndim == 4 else [inputs]
    if isinstance(inputs, (list, tuple)):
        return list(inputs)
    raise InputError(
        f"cannot explain a {type(inputs).__name__}; pass a (B, 3, H, W) or (3, H, W) tensor, a path, folder or glob, "
        "a PIL image, a numpy image (H, W, 3), or a list of these."
    )


def _image_sources(inputs: object) -> tuple[torch.Tensor | None, list]:
    """``(tensor, [])`` for a tensor input (used as it is), else ``(None, items)`` with one item per image to read."""
    if isinstance(inputs, torch.Tensor):
        images = inputs.unsqueeze(0) if inputs.dim() == 3 else inputs
        check_images(images)
        return images, []
    items = _input_items(inputs)
    if not items:
        raise InputError("`inputs` is empty; pass images, image paths or folders.")
    if all(isinstance(i, (str, os.PathLike)) for i in items):
        items = image_files(items)
    return None, items


def _prepared_batches(items: list, classifier: nn.Module, batch_size: int):
    """Read and prepare ``batch_size`` images at a time (each full-size photo is released once prepared)."""
    from .io import load_image, to_image_tensor

    prepare = prepare_function(classifier)
    shape = None
    for start in range(0, len(items), batch_size):
        tensors = []
        for item in items[start : start + batch_size]:
            image = load_image(item, max_side=2048) if isinstance(item, (str, os.PathLike)) else to_image_tensor(item)
            tensors.append(prepare(image))
            if shape is not None and tuple(tensors[-1].shape) != shape:
                raise InputError(
                    f"the prepared images have different sizes {[shape, tuple(tensors[-1].shape)]}; this classifier "
                    "has "
                    "no eval_transform, resize them first."
                )
            shape = tuple(tensors[-1].shape)
        yield torch.stack(tensors)


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
    tensor, items = _image_sources(inputs)
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
        batches = _prepared_batches(items, classifier, batch_size)
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
