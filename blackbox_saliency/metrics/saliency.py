"""The saliency metric of Dabkowski & Gal (2017), section 4.2.

For each image: take the tightest rectangle around the salient region (mask above
``threshold``), crop it, resize the crop to the classifier's input size ignoring the aspect
ratio, and score

``s = log(max(a, area_floor)) - log(p)``

with ``a`` the box area over the image area and ``p`` the classifier's softmax probability of
the class on the crop. Lower is better: a small region that alone keeps the class confident.

The crop-and-resize of the whole batch is one ``torchvision.ops.roi_align`` call with
``aligned=True`` (so a box ``(x0, y0, x1, y1)`` in this library's exclusive pixel convention
is exactly the cropped pixels) and ``sampling_ratio=0``: torchvision then averages
``ceil(box_side / output_side)`` bilinear samples per output pixel and per axis, chosen per box,
i.e. area-averaging (anti-aliased) when the crop shrinks and plain bilinear interpolation when
it grows. That choice depends on each box alone, so results do not depend on batch composition.

**Cropping from the source photo.** When the images are *views* made from larger photos (resized
for the classifier), pass the photos and the view-to-source mapping as ``sources``
(:class:`~blackbox_saliency.metrics.frames.SourcePhotos`): each box, found on the view's mask, is mapped into its
photo's pixel grid, cut out of the *original* pixels and resized to the classifier's input, and
the area is the box's fraction of the photo. This is the protocol of the paper, where the crop is
never an upsampled piece of an already downsampled view. Photos of different sizes are padded
(edge pixels repeated, which ``roi_align`` then reads exactly as it reads an unpadded photo's
border) into one tensor and cropped by one ``roi_align`` call.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from blackbox_saliency.interfaces import BlackBoxClassifier
    >>> net = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), (8, 8), list("abcd"))
    >>> result = saliency_metric(net, torch.rand(2, 3, 16, 16), torch.ones(2, 1, 4, 4), torch.tensor([0, 3]))
    >>> result.area.tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from ..devices import evaluating
from ..errors import InputError
from ..evidence.blend import upsample_mask
from ..input_checks import check_classes, check_images, check_masks, check_same_batch
from ..interfaces import require_black_box
from ._results import per_image_dict
from .boxes import box_area, mask_to_box
from .frames import SourcePhotos, check_mapping, resize_mapping, view_to_source

__all__ = [
    "AREA_FLOOR",
    "SaliencyMetricOptions",
    "SaliencyMetricResult",
    "crop_boxes",
    "crop_source_boxes",
    "saliency_metric",
]


@dataclass
class SaliencyMetricResult:
    """Per-image (B,) tensors ``s``, ``area``, ``prob`` and the (B, 4) ``boxes`` in the pixels of the cropped images.

    ``boxes`` are in source-photo pixels when the metric cropped from ``sources``, else in view pixels.
    """

    s: torch.Tensor
    area: torch.Tensor
    prob: torch.Tensor
    boxes: torch.Tensor

    @property
    def mean(self) -> float:
        """The saliency metric of the batch (mean of ``s``)."""
        return float(self.s.mean())

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly summary (means) and per-image values."""
        summary = {
            "saliency_metric": self.mean,
            "mean_area": float(self.area.mean()),
            "mean_prob": float(self.prob.mean()),
        }
        return per_image_dict(summary, s=self.s, area=self.area, prob=self.prob, boxes=self.boxes)


def crop_boxes(images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop box ``i`` out of image ``i`` and resize it to ``size`` = (height, width), ignoring the aspect ratio.

    Boxes are (B, 4) in image pixels, exclusive ``x1, y1`` (see :mod:`blackbox_saliency.metrics.boxes`).

    Example:
        >>> import torch
        >>> x = torch.arange(16.0).view(1, 1, 4, 4).expand(1, 3, 4, 4)
        >>> crop_boxes(x, torch.tensor([[1.0, 1.0, 3.0, 3.0]]), (2, 2))[0, 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """
    index = torch.arange(images.shape[0], device=images.device, dtype=images.dtype).unsqueeze(1)
    rois = torch.cat([index, boxes.to(device=images.device, dtype=images.dtype)], dim=1)
    return roi_align(images, rois, output_size=tuple(size), spatial_scale=1.0, sampling_ratio=0, aligned=True)


def pad_to_batch(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack (3, H_i, W_i) images into (B, 3, max H, max W), repeating each image's last row and column into the
    padding."""
    height = max(int(im.shape[-2]) for im in images)
    width = max(int(im.shape[-1]) for im in images)
    return torch.stack(
        [
            F.pad(im[None], (0, width - im.shape[-1], 0, height - im.shape[-2]), mode="replicate")[0]
            if im.shape[-2:] != (height, width)
            else im
            for im in images
        ]
    )


def crop_source_boxes(sources: Sequence[torch.Tensor], boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop box ``i`` (source pixels) out of photo ``i`` of a list of photos of any sizes; resize to ``size``,
    ignoring the aspect ratio.

    Gives the same crops as :func:`crop_boxes` on each photo alone, in one ``roi_align`` call.

    Example:
        >>> import torch
        >>> photos = [torch.rand(3, 10, 20), torch.rand(3, 30, 8)]
        >>> crop_source_boxes(photos, torch.tensor([[0.0, 0.0, 20.0, 10.0], [0.0, 0.0, 8.0, 30.0]]), (5, 4)).shape
        torch.Size([2, 3, 5, 4])
    """
    return crop_boxes(pad_to_batch(sources), boxes, size)


def _check_sources(photos: object, batch: int, device: torch.device) -> list[torch.Tensor]:
    if not isinstance(photos, (list, tuple)) or len(photos) != batch:
        got = len(photos) if isinstance(photos, (list, tuple)) else type(photos).__name__
        raise InputError(f"`sources.photos` must be a list of {batch} (3, H_i, W_i) photos, one per image, got {got}.")
    for i, photo in enumerate(photos):
        if (
            not isinstance(photo, torch.Tensor)
            or photo.dim() != 3
            or photo.shape[0] != 3
            or not torch.is_floating_point(photo)
        ):
            shape = tuple(photo.shape) if isinstance(photo, torch.Tensor) else type(photo).__name__
            raise InputError(f"`sources.photos[{i}]` must be a float tensor (3, H, W) in [0, 1], got {shape}.")
        if photo.device != device:
            raise InputError(
                f"`sources.photos[{i}]` is on {photo.device} but `images` on {device}; move them to the same device."
            )
        # values in [0, 1], no NaN (0..255 photos would score nonsense)
        check_images(photo[None], name=f"sources.photos[{i}]")
    return list(photos)


_HALF = (torch.float16, torch.bfloat16)

AREA_FLOOR = 0.05
"""The paper's floor on the box area fraction ``a`` of the saliency metric."""


@dataclass(frozen=True)
class SaliencyMetricOptions:
    """Settings of :func:`saliency_metric`, checked when made.

    Attributes:
        threshold: salient pixels are those with (upsampled) mask ``> threshold``.
        area_floor: the area is clamped from below at this value (0.05 in the paper).
        batch_size: classify the crops in chunks of this size (``None``: all at once).

    Example:
        >>> SaliencyMetricOptions(threshold=0.3).area_floor
        0.05
    """

    threshold: float = 0.5
    area_floor: float = AREA_FLOOR
    batch_size: int | None = None

    def __post_init__(self) -> None:
        threshold, floor, size = self.threshold, self.area_floor, self.batch_size
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise InputError(f"`threshold` must be a finite number, got {threshold!r}.")
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 < float(floor) <= 1.0:
            raise InputError(f"`area_floor` must be a number in (0, 1], got {floor!r}.")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise InputError(f"`batch_size` must be a positive int or None, got {size!r}.")


def _check_inputs(classifier: nn.Module, images: torch.Tensor, masks: torch.Tensor, classes: torch.Tensor) -> int:
    """Check the tensors against each other and the black box; return the batch size."""
    check_images(images)
    check_masks(masks)
    check_classes(classes, classifier.num_classes)
    batch = check_same_batch(images=images, masks=masks, classes=classes)
    if masks.device != images.device:
        raise InputError(f"`masks` is on {masks.device} but `images` on {images.device}; move them to the same device.")
    return batch


def _boxes_and_areas(
    images: torch.Tensor, masks: torch.Tensor, threshold: float, sources: SourcePhotos | None
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
    """The boxes to crop (view pixels, or source pixels with ``sources``), their area fractions, and the photos."""
    height, width = images.shape[-2:]
    boxes = mask_to_box(upsample_mask(masks.to(images.dtype), (height, width)), threshold)
    if sources is None:
        return boxes, box_area(boxes) / float(height * width), None
    photos = [p.float() if p.dtype in _HALF else p for p in _check_sources(sources.photos, len(boxes), images.device)]
    mapping = sources.view_to_source
    if mapping is None:
        mapping = resize_mapping((height, width), [tuple(p.shape[-2:]) for p in photos])
    boxes = view_to_source(boxes, check_mapping(mapping, len(boxes), "sources.view_to_source"))
    photo_area = torch.tensor(
        [float(p.shape[-2] * p.shape[-1]) for p in photos], dtype=boxes.dtype, device=boxes.device
    )
    return boxes, box_area(boxes) / photo_area, photos


def _crop_log_probs(
    classifier: nn.Module,
    pixels: torch.Tensor | list[torch.Tensor],
    boxes: torch.Tensor,
    classes: torch.Tensor,
    chunk: int,
) -> torch.Tensor:
    """``log p`` of each image's class on its box, cut out of ``pixels`` (the views, or a list of photos)."""
    crop = crop_boxes if isinstance(pixels, torch.Tensor) else crop_source_boxes
    network_dtype = next((p.dtype for p in classifier.parameters() if p.is_floating_point()), boxes.dtype)
    log_probs = []
    with evaluating(classifier), torch.no_grad():
        for start in range(0, len(boxes), chunk):
            stop = min(start + chunk, len(boxes))
            crops = crop(pixels[start:stop], boxes[start:stop], classifier.input_size)
            logits = classifier(crops.to(network_dtype))
            if logits.dtype in _HALF:
                logits = logits.float()
            wanted = classes[start:stop].to(logits.device).view(-1, 1)
            log_probs.append(F.log_softmax(logits, dim=1).gather(1, wanted).squeeze(1))
    return torch.cat(log_probs)


def saliency_metric(
    classifier: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    classes: torch.Tensor,
    options: SaliencyMetricOptions | None = None,
    sources: SourcePhotos | None = None,
) -> SaliencyMetricResult:
    """The paper's saliency metric for masks of any resolution.

    Args:
        classifier: a black box with ``input_size`` (height, width) and ``num_classes`` (e.g. a
            :class:`~blackbox_saliency.interfaces.BlackBoxClassifier`); run in eval mode (its mode is restored) without
            gradients, on crops in the dtype of its weights.
        images: (B, 3, H, W) float images in [0, 1] (float16 / bfloat16 are computed in float32).
        masks: (B, 1, h, w) masks in [0, 1] at any resolution (bilinearly upsampled to H x W).
        classes: (B,) int64 class per image.
        options: threshold, area floor and chunk size (:class:`SaliencyMetricOptions`; default: the paper's).
        sources: the original photos the ``images`` were made from
            (:class:`~blackbox_saliency.metrics.frames.SourcePhotos`): the boxes are then cut out of these pixels and
            the area is a fraction of each photo.

    Returns:
        :class:`SaliencyMetricResult` with per-image ``s``, ``area``, ``prob``, ``boxes``; ``.mean`` is the batch
        metric.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from blackbox_saliency.interfaces import BlackBoxClassifier
        >>> net = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)), (8, 8), ["a", "b"])
        >>> x = torch.rand(1, 3, 8, 8)
        >>> r = saliency_metric(net, x, torch.ones(1, 1, 8, 8), torch.tensor([1]))  # the full image: a = 1
        >>> torch.allclose(r.s, -torch.log_softmax(net(x), dim=1)[:, 1])
        True
    """
    classifier = require_black_box(classifier)
    options = SaliencyMetricOptions() if options is None else options
    batch = _check_inputs(classifier, images, masks, classes)
    if images.dtype in _HALF:  # boxes, areas and crops in float32; the classifier gets its own dtype
        images = images.float()
    boxes, area, photos = _boxes_and_areas(images, masks, options.threshold, sources)
    chunk = batch if options.batch_size is None else options.batch_size
    log_p = _crop_log_probs(classifier, images if photos is None else photos, boxes, classes, chunk).to(images.dtype)
    s = torch.log(area.clamp_min(float(options.area_floor))) - log_p
    return SaliencyMetricResult(s=s, area=area, prob=log_p.exp(), boxes=boxes)
