"""Streaming explainer: frames in, masks and overlays out, batched on the chosen device.

:class:`StreamingExplainer` consumes any iterable of frames (NumPy uint8 ``(H, W, 3)`` or
tensors ``(3, H, W)`` / ``(H, W, 3)``), groups consecutive frames into batches of
``batch_size`` (a partial batch is flushed at the end or when the frame size changes), runs
the masker (and the black box only when needed) once per batch, optionally smooths the masks
over time (:class:`~blackbox_saliency.video.smoothing.MaskSmoother`) and renders overlays
(heat map + tightest box) without leaving the device. Results come out in frame order, one
:class:`FrameResult` per frame; latency is at most ``batch_size`` frames.

Class selection (``classes``):

* an int or a class name: that class for the whole clip (names need a classifier);
* ``"top"``: the black box's top-1 class of *each* frame;
* ``"first"``: the black box's top-1 class of the first frame, kept for the whole clip (the
  black box then runs once; pass ``report_probs=True`` to score every frame anyway).

Example:
    >>> import numpy as np, torch
    >>> from blackbox_saliency.interfaces import Masker
    >>> class Brightness(Masker):  # a toy masker: bright pixels are "evidence"
    ...     num_classes = 1
    ...     def forward(self, images, classes):
    ...         return images.mean(1, keepdim=True)
    >>> frames = [np.full((8, 8, 3), v, dtype=np.uint8) for v in (0, 255, 255)]
    >>> explainer = StreamingExplainer(Brightness(), classes=0, batch_size=2, smooth=0.5)
    >>> [round(r.mask.mean().item(), 2) for r in explainer.stream(frames)]
    [0.0, 0.5, 0.75]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from ..devices import module_device
from ..errors import InputError
from ..interfaces import Masker, require_black_box
from ..visualize import OverlayStyle, blend_unchecked, colormap_lut, draw_boxes
from .frames import frame_to_tensor
from .smoothing import MaskSmoother

__all__ = ["FrameResult", "StreamingExplainer", "CLASS_KEYWORDS"]

CLASS_KEYWORDS = ("top", "first")


@dataclass
class FrameResult:
    """The explanation of one frame.

    Attributes:
        index: position of the frame in the stream (0-based).
        class_id: the explained class; ``class_name`` its name when a classifier is known.
        prob: the black box's probability of ``class_id`` on this frame, or ``None`` when the
            black box did not run on it.
        mask: (1, H, W) float mask in [0, 1] (after smoothing) on the explainer's device.
        box: (4,) tightest box ``(x0, y0, x1, y1)`` (exclusive x1, y1) of ``mask > threshold``.
        overlay: (H, W, 3) uint8 overlay on the device, or ``None`` with ``overlays=False``.
    """

    index: int
    class_id: int
    class_name: str | None
    prob: float | None
    mask: torch.Tensor
    box: torch.Tensor
    overlay: torch.Tensor | None


class StreamingExplainer:
    """Explain a stream of video frames with a masker, in batches, on one device.

    Args:
        masker: any :class:`~blackbox_saliency.interfaces.Masker` (moved to ``device``, eval mode).
        classifier: the black box; needed for ``"top"``/``"first"``, class names and probabilities.
        classes: an int, a class name, ``"top"`` (per frame) or ``"first"`` (see the module doc).
        batch_size: frames per masker call.
        smooth: EMA weight of the past mask in [0, 1); 0 or ``None`` = no smoothing.
        device: where everything runs; default the masker's device.
        overlays: render overlays (set ``False`` when only masks are wanted).
        report_probs: run the black box on every batch even when the class is fixed, to report ``prob``.
        box: draw the tightest box (around ``mask > style.threshold``) into the overlays.
        style: the overlay look and the box threshold (default
            :class:`~blackbox_saliency.visualize.OverlayStyle()`).
    """

    def __init__(  # noqa: PLR0913 - public API: each keyword is a documented option of the explainer
        self,
        masker: Masker,
        classifier: torch.nn.Module | None = None,
        classes: int | str = "top",
        batch_size: int = 8,
        smooth: float | None = 0.6,
        device: torch.device | str | None = None,
        overlays: bool = True,
        report_probs: bool = False,
        box: bool = True,
        style: OverlayStyle | None = None,
    ) -> None:
        if not isinstance(masker, Masker):
            raise InputError(
                f"`masker` must be a Masker (e.g. load_masker('efficientnet_lite0')), got {type(masker).__name__}."
            )
        if classifier is not None:
            require_black_box(classifier)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"`batch_size` must be a positive int, got {batch_size!r}.")
        self.device = module_device(masker) if device is None else torch.device(device)
        self.masker = masker.to(self.device).eval()
        self.classifier = classifier.to(self.device).eval() if classifier is not None else None
        self.batch_size = batch_size
        self.smoother = MaskSmoother(smooth or 0.0)
        self.overlays = overlays
        self.report_probs = report_probs
        self.box = box
        self.style = OverlayStyle() if style is None else style
        self._lut = colormap_lut(self.style.cmap, 256, self.device)
        self.mode, self.fixed_class = self._resolve_classes(classes)
        self._reset_clip()

    # ------------------------------------------------------------------ classes
    def _resolve_classes(self, classes: int | str) -> tuple[str, int | None]:
        if isinstance(classes, str) and classes.strip().lower() in CLASS_KEYWORDS:
            if self.classifier is None:
                raise InputError(f"classes={classes!r} needs the black box: pass `classifier=` (or a fixed class id).")
            return classes.strip().lower(), None
        if isinstance(classes, bool) or not isinstance(classes, (int, str)):
            raise InputError(f"`classes` must be a class id, a class name, 'top' or 'first', got {classes!r}.")
        if isinstance(classes, str) and not classes.strip().lstrip("-").isdigit():
            if self.classifier is None:
                raise InputError(
                    f"class name {classes!r} needs a classifier with class names; pass `classifier=` or a class id."
                )
            return "fixed", int(self.classifier.class_index(classes))
        index = int(classes)
        limit = self.masker.num_classes or (self.classifier.num_classes if self.classifier is not None else None)
        if index < 0 or (limit is not None and index >= limit):
            raise InputError(f"class id {index} is out of range [0, {limit - 1 if limit else '...'}].")
        return "fixed", index

    def class_name(self, class_id: int) -> str | None:
        """The classifier's name for ``class_id`` (``None`` without a classifier)."""
        if self.classifier is None:
            return None
        names = self.classifier.class_names
        return names[class_id] if 0 <= class_id < len(names) else None

    def _reset_clip(self) -> None:
        self.smoother.reset()
        self._clip_class: int | None = self.fixed_class

    # ------------------------------------------------------------------ streaming
    def stream(self, frames: Iterable[object]) -> Iterator[FrameResult]:
        """Yield one :class:`FrameResult` per frame, in order (a new clip: smoothing and ``"first"`` restart)."""
        self._reset_clip()
        pending: list[torch.Tensor] = []
        start = 0
        dtype = self._dtype()
        for index, frame in enumerate(frames):
            tensor = frame_to_tensor(frame, self.device, dtype, index=index)
            if pending and tensor.shape != pending[0].shape:
                yield from self._run(pending, start)
                start, pending = index, []
            pending.append(tensor)
            if len(pending) == self.batch_size:
                yield from self._run(pending, start)
                start, pending = index + 1, []
        if pending:
            yield from self._run(pending, start)

    __call__ = stream

    def _dtype(self) -> torch.dtype:
        param = next(iter(self.masker.parameters()), None)
        return param.dtype if param is not None and torch.is_floating_point(param) else torch.float32

    def _classes_of(self, images: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The classes to explain in a batch and, when the black box ran on it, their probabilities."""
        if self.mode == "top":
            return self._top1(images)
        if self._clip_class is None:  # "first": the top-1 class of the clip's first frame
            _, first = self._top1(images[:1])
            self._clip_class = int(first[0])
        classes = torch.full((images.shape[0],), self._clip_class, dtype=torch.int64, device=self.device)
        if not (self.report_probs and self.classifier is not None):
            return None, classes
        probs = torch.softmax(self._classify(images), dim=1)
        return probs.gather(1, classes.view(-1, 1)).squeeze(1), classes

    def _render(self, images: torch.Tensor, masks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 overlays on the device: heat map and, with ``box``, the tightest boxes."""
        pictures = blend_unchecked(images, masks, self._lut.to(images.dtype), self.style.alpha)
        if self.box:
            width = max(2, round(min(images.shape[-2:]) / 150))
            pictures = draw_boxes(pictures, boxes, self.style.box_colour, width=width)
        return pictures.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)

    @torch.no_grad()
    def _run(self, frames: list[torch.Tensor], start: int) -> Iterator[FrameResult]:
        images = torch.stack(frames)
        n = images.shape[0]
        probs, classes = self._classes_of(images)
        masks = self.masker(images, classes).to(images.dtype)  # calling a Masker checks range and classes first
        if masks.shape[-2:] != images.shape[-2:]:
            masks = torch.nn.functional.interpolate(
                masks, size=images.shape[-2:], mode="bilinear", align_corners=False
            )
        masks = masks.clamp(0.0, 1.0)
        class_list = classes.tolist()
        masks = self.smoother(masks, class_list)
        from ..metrics.boxes import mask_to_box

        boxes = mask_to_box(masks, self.style.threshold)
        overlays = self._render(images, masks, boxes) if self.overlays else None
        prob_list = probs.tolist() if probs is not None else [None] * n
        for i in range(n):
            yield FrameResult(
                index=start + i,
                class_id=class_list[i],
                class_name=self.class_name(class_list[i]),
                prob=prob_list[i],
                mask=masks[i],
                box=boxes[i],
                overlay=None if overlays is None else overlays[i],
            )

    def _classify(self, images: torch.Tensor) -> torch.Tensor:
        """Float32 logits of the black box (fed in its own parameter dtype, e.g. a float32 box next to a half
        masker)."""
        assert self.classifier is not None
        param = next(iter(self.classifier.parameters()), None)
        if param is not None and torch.is_floating_point(param) and param.dtype != images.dtype:
            images = images.to(param.dtype)
        return self.classifier(images).float()

    def _top1(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.softmax(self._classify(images), dim=1)
        top, classes = probs.max(dim=1)
        return top, classes.to(torch.int64)
