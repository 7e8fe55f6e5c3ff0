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
for the classifier), pass the photos as ``source_images`` with the view-to-source mapping
(:mod:`blackbox_saliency.metrics.frames`): each box, found on the view's mask, is mapped into its
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

from ..input_checks import check_classes, check_images, check_masks, check_same_batch
from ..errors import InputError
from ..evidence.blend import upsample_mask
from ..interfaces import require_black_box
from ._results import per_image_dict
from .boxes import box_area, mask_to_box
from .frames import check_mapping, resize_mapping, view_to_source

__all__ = ["SaliencyMetricResult", "crop_boxes", "crop_source_boxes", "saliency_metric"]


@dataclass
class SaliencyMetricResult:
    """Per-image (B,) tensors ``s``, ``area``, ``prob`` and the (B, 4) ``boxes`` in the pixels of the cropped images.

    ``boxes`` are in source-photo pixels when the metric cropped from ``source_images``, else in view pixels.
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
        summary = {"saliency_metric": self.mean, "mean_area": float(self.area.mean()), "mean_prob": float(self.prob.mean())}
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
    """Stack (3, H_i, W_i) images into (B, 3, max H, max W), repeating each image's last row and column into the padding."""
    height = max(int(im.shape[-2]) for im in images)
    width = max(int(im.shape[-1]) for im in images)
    return torch.stack(
        [F.pad(im[None], (0, width - im.shape[-1], 0, height - im.shape[-2]), mode="replicate")[0] if im.shape[-2:] != (height, width) else im for im in images]
    )


def crop_source_boxes(sources: Sequence[torch.Tensor], boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop box ``i`` (source pixels) out of photo ``i`` of a list of photos of any sizes; resize to ``size``, ignoring the aspect ratio.

    Gives the same crops as :func:`crop_boxes` on each photo alone, in one ``roi_align`` call.

    Example:
        >>> import torch
        >>> photos = [torch.rand(3, 10, 20), torch.rand(3, 30, 8)]
        >>> crop_source_boxes(photos, torch.tensor([[0.0, 0.0, 20.0, 10.0], [0.0, 0.0, 8.0, 30.0]]), (5, 4)).shape
        torch.Size([2, 3, 5, 4])
    """
    return crop_boxes(pad_to_batch(sources), boxes, size)


def _check_sources(source_images: object, batch: int, device: torch.device) -> list[torch.Tensor]:
    if not isinstance(source_images, (list, tuple)) or len(source_images) != batch:
        got = len(source_images) if isinstance(source_images, (list, tuple)) else type(source_images).__name__
        raise InputError(f"`source_images` must be a list of {batch} (3, H_i, W_i) photos, one per image, got {got}.")
    for i, photo in enumerate(source_images):
        if not isinstance(photo, torch.Tensor) or photo.dim() != 3 or photo.shape[0] != 3 or not torch.is_floating_point(photo):
            shape = tuple(photo.shape) if isinstance(photo, torch.Tensor) else type(photo).__name__
            raise InputError(f"`source_images[{i}]` must be a float tensor (3, H, W) in [0, 1], got {shape}.")
        if photo.device != device:
            raise InputError(f"`source_images[{i}]` is on {photo.device} but `images` on {device}; move them to the same device.")
        check_images(photo[None], name=f"source_images[{i}]")  # values in [0, 1], no NaN (0..255 photos would score nonsense)
    return list(source_images)


_HALF = (torch.float16, torch.bfloat16)


def saliency_metric(
    classifier: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    classes: torch.Tensor,
    threshold: float = 0.5,
    area_floor: float = 0.05,
    batch_size: int | None = None,
    source_images: Sequence[torch.Tensor] | None = None,
    view_to_source_mapping: torch.Tensor | None = None,
) -> SaliencyMetricResult:
    """The paper's saliency metric for masks of any resolution.

    Args:
        classifier: a black box with ``input_size`` (height, width) and ``num_classes``
            (e.g. a :class:`~blackbox_saliency.interfaces.BlackBoxClassifier`); it is run in
            eval mode (its mode is restored afterwards) and without gradients.
        images: (B, 3, H, W) float images in [0, 1] (float16 / bfloat16 are computed in float32; the crops are
            given to the classifier in the dtype of its weights).
        masks: (B, 1, h, w) masks in [0, 1] at any resolution (bilinearly upsampled to H x W).
        classes: (B,) int64 class per image.
        threshold: salient pixels are those with (upsampled) mask ``> threshold``.
        area_floor: the area is clamped from below at this value (0.05 in the paper).
        batch_size: classify the crops in chunks of this size (default: all at once).
        source_images: optional list of the B original photos (3, H_i, W_i) the ``images`` were made from; the
            boxes are then cut out of these original pixels and the area is a fraction of each photo.
        view_to_source_mapping: (B, 4) ``(sx, sy, ox, oy)`` per image (see :mod:`~blackbox_saliency.metrics.frames`);
            default with ``source_images``: a plain resize of each whole photo to the view.

    Returns:
        :class:`SaliencyMetricResult` with per-image ``s``, ``area``, ``prob``, ``boxes``; ``.mean``
        is the batch metric.

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
    check_images(images)
    check_masks(masks)
    check_classes(classes, classifier.num_classes)
    batch = check_same_batch(images=images, masks=masks, classes=classes)
    if masks.device != images.device:
        raise InputError(f"`masks` is on {masks.device} but `images` on {images.device}; move them to the same device.")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise InputError(f"`threshold` must be a finite number, got {threshold!r}.")
    if isinstance(area_floor, bool) or not isinstance(area_floor, (int, float)) or not 0.0 < float(area_floor) <= 1.0:
        raise InputError(f"`area_floor` must be a number in (0, 1], got {area_floor!r}.")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise InputError(f"`batch_size` must be a positive int or None, got {batch_size!r}.")
    size = classifier.input_size
    if images.dtype in _HALF:  # boxes, areas and crops in float32; the classifier gets its own dtype below
        images = images.float()
    network_dtype = next((p.dtype for p in classifier.parameters() if p.is_floating_point()), images.dtype)

    height, width = images.shape[-2:]
    upsampled = upsample_mask(masks.to(images.dtype), (height, width))
    boxes = mask_to_box(upsampled, threshold)
    if source_images is None:
        if view_to_source_mapping is not None:
            raise InputError("`view_to_source_mapping` needs `source_images`: pass the original photos too.")
        area = box_area(boxes) / float(height * width)
        crop_from, cropped = images, None
    else:
        cropped = [p.float() if p.dtype in _HALF else p for p in _check_sources(source_images, batch, images.device)]
        if view_to_source_mapping is None:
            view_to_source_mapping = resize_mapping((height, width), [tuple(p.shape[-2:]) for p in cropped])
        mapping = check_mapping(view_to_source_mapping, batch, "view_to_source_mapping")
        boxes = view_to_source(boxes, mapping)
        photo_area = torch.tensor([float(p.shape[-2] * p.shape[-1]) for p in cropped], dtype=boxes.dtype, device=boxes.device)
        area = box_area(boxes) / photo_area
    chunk = batch if batch_size is None else batch_size
    was_training = classifier.training
    classifier.eval()
    try:
        with torch.no_grad():
            log_probs = []
            for start in range(0, batch, chunk):
                stop = min(start + chunk, batch)
                if cropped is None:
                    crops = crop_boxes(crop_from[start:stop], boxes[start:stop], size)
                else:
                    crops = crop_source_boxes(cropped[start:stop], boxes[start:stop], size)
                logits = classifier(crops.to(network_dtype))
                if logits.dtype in (torch.float16, torch.bfloat16):
                    logits = logits.float()
                log_probs.append(F.log_softmax(logits, dim=1).gather(1, classes[start:stop].to(logits.device).view(-1, 1)).squeeze(1))
    finally:
        classifier.train(was_training)
    log_p = torch.cat(log_probs).to(images.dtype)
    s = torch.log(area.clamp_min(float(area_floor))) - log_p
    return SaliencyMetricResult(s=s, area=area, prob=log_p.exp(), boxes=boxes)
