"""What the ``explain``, ``demo``, ``video`` and ``evaluate`` commands share: loading the models with the
commands' wording, the ``--class`` choice, and explaining and writing images.

Each ``cmd_<name>.py`` holds only its command (``register``, ``run`` and its private helpers); the
library calls underneath are :func:`~blackbox_saliency.explainer.load_masker_and_classifier`,
:func:`~blackbox_saliency.explainer.explain_batch` and :func:`~blackbox_saliency.devices.resolve_device`.

Example:
    >>> from blackbox_saliency.cli._common import resolve_class
    >>> resolve_class("top", classifier=None)
    'top'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..devices import module_device
from ..explainer import explain_batch, load_masker_and_classifier
from ..interfaces import BlackBoxClassifier, Masker

__all__ = [
    "CLASSIFIER_HINT",
    "TOP",
    "Explanation",
    "explanations_of_batch",
    "load_models",
    "resolve_class",
    "stream_explanations",
    "write_explanation",
]

TOP = "top"
#: How the commands' errors tell the user to choose the black box.
CLASSIFIER_HINT = "pass --classifier NAME (`blackbox-saliency plugins` lists the classifiers)"


def load_models(
    masker_spec: str, classifier_name: str | None, device: torch.device
) -> tuple[Masker, BlackBoxClassifier, str]:
    """Load the masker (registered name or checkpoint path) and its black box; both in eval mode on ``device``.

    The classifier defaults to the masker's ``classifier_name`` (recorded when it was trained); the classifier's
    name is returned too. This is :func:`~blackbox_saliency.explainer.load_masker_and_classifier` in the commands'
    words.
    """
    masker, classifier = load_masker_and_classifier(masker_spec, classifier_name, classifier_hint=CLASSIFIER_HINT)
    name = classifier_name or masker.classifier_name
    return masker.to(device).eval(), classifier.to(device).eval(), name


def resolve_class(spec: str | None, classifier: BlackBoxClassifier, keywords: Sequence[str] = (TOP,)) -> int | str:
    """Turn ``--class`` into a class index, or return the keyword (``"top"``...) unchanged."""
    if spec is None:
        return keywords[0]
    text = str(spec).strip()
    if text.lower() in keywords:
        return text.lower()
    return int(classifier.class_index(text))


@dataclass
class Explanation:
    """One explained image (all on the CPU)."""

    name: str
    image: torch.Tensor  # (3, H, W) as the black box saw it
    mask: torch.Tensor  # (1, H, W)
    class_id: int
    class_name: str
    prob: float
    saliency_metric: float
    box_area: float
    box_prob: float
    box: list[float]
    rank: int | None = None  # with --topk K > 1: 1..K, the class's rank among the black box's outputs

    def caption(self) -> str:
        from ..visualize import caption

        extra = f"top-{self.rank}" if self.rank else None
        return caption(self.class_name, self.prob, self.saliency_metric, extra)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "class_id": self.class_id,
            "class_name": self.class_name,
            "p": self.prob,
            "saliency_metric": self.saliency_metric,
            "box_area": self.box_area,
            "p_box_crop": self.box_prob,
            "box_xyxy": self.box,
            "rank": self.rank,
        }

    def line(self) -> str:
        return (
            f"{self.name}: class {self.class_id} {self.class_name!r}  p = {self.prob:.3f}  "
            f"saliency metric = {self.saliency_metric:.3f}  (box area {self.box_area:.2f}, p on the box crop "
            f"{self.box_prob:.3f})"
        )


def explanations_of_batch(
    images: torch.Tensor,
    names: Sequence[str],
    masker: Masker,
    classifier: BlackBoxClassifier,
    class_choice: int | str,
    topk: int = 1,
) -> list[Explanation]:
    """Explain a batch (B, 3, H, W) in [0, 1] already on the models' device (``topk`` classes per image with
    ``top``)."""
    chosen = (
        None
        if class_choice == TOP
        else torch.full((images.shape[0],), int(class_choice), dtype=torch.int64, device=images.device)
    )
    result = explain_batch(images, masker, classifier, chosen, topk)
    k = result.classes.shape[1]
    return [
        Explanation(
            name=name,
            image=images[i].cpu(),
            mask=result.masks[i, r : r + 1].float().cpu(),
            class_id=int(result.classes[i, r]),
            class_name=result.class_names[i][r],
            prob=float(result.probs[i, r]),
            saliency_metric=float(result.saliency[i, r]),
            box_area=float(result.areas[i, r]),
            box_prob=float(result.box_probs[i, r]),
            box=[float(v) for v in result.boxes[i, r].tolist()],
            rank=r + 1 if k > 1 else None,
        )
        for i, name in enumerate(names)
        for r in range(k)
    ]


def stream_explanations(
    items: Iterable[tuple[str, torch.Tensor]],
    masker: Masker,
    classifier: BlackBoxClassifier,
    class_choice: int | str,
    batch_size: int = 8,
    topk: int = 1,
) -> Iterator[Explanation]:
    """Explain prepared (name, (3, H, W) image) pairs lazily, one batch of equally sized images at a time, on the
    black box's device.

    ``items`` is consumed as the batches fill, so memory is bounded by one batch, not by the number of images.
    """
    batch: list[tuple[str, torch.Tensor]] = []
    device = module_device(classifier)

    def flush() -> list[Explanation]:
        images = torch.stack([image for _, image in batch]).to(device)
        done = explanations_of_batch(images, [name for name, _ in batch], masker, classifier, class_choice, topk)
        batch.clear()
        return done

    for name, image in items:
        if batch and tuple(image.shape) != tuple(batch[0][1].shape):
            yield from flush()
        batch.append((name, image))
        if len(batch) == batch_size:
            yield from flush()
    if batch:
        yield from flush()


#: What :func:`write_explanation` writes for one stem: overlay, panel, mask.
OUTPUT_SUFFIXES = (".png", "_panel.png", "_mask.npy")


def write_explanation(result: Explanation, out_dir: Path, stem: str) -> dict[str, Path]:
    """Write ``<stem>.png`` (overlay), ``<stem>_panel.png`` and ``<stem>_mask.npy``; return their paths."""
    from ..atomic import atomic_write
    from ..visualize import PNG_COMPRESS_LEVEL, render_overlays, render_panels

    images, masks, captions = result.image.unsqueeze(0), result.mask.unsqueeze(0), [result.caption()]
    overlay = render_overlays(images, masks, captions, min_side=448)[0]
    panel = render_panels(images, masks, captions, min_side=320)[0]
    paths = {kind: out_dir / f"{stem}{suffix}" for kind, suffix in zip(("overlay", "panel", "mask"), OUTPUT_SUFFIXES)}
    atomic_write(paths["overlay"], lambda handle: overlay.save(handle, format="PNG", compress_level=PNG_COMPRESS_LEVEL))
    atomic_write(paths["panel"], lambda handle: panel.save(handle, format="PNG", compress_level=PNG_COMPRESS_LEVEL))
    atomic_write(paths["mask"], lambda handle: np.save(handle, result.mask[0].numpy().astype(np.float32)))
    return paths
