"""Data sets for evaluation: ImageNet-style photo folders (with boxes) and CIFAR-style ``.npz`` files.

Every data set yields :class:`EvalSample` items: an image (3, H, W) in [0, 1] (the *view* the
methods see), its label (or ``-1`` when unknown), its ground-truth boxes in the view's pixels
(``None`` when the data set has none), a name, and for photos the original photo (``source``)
with the view-to-source mapping (:mod:`blackbox_saliency.metrics.frames`), so that the saliency
metric can crop from the original pixels.

* A folder with ``boxes.csv`` (the ILSVRC localisation format of ``imagenet/val_dev``), with
  ``index.csv`` (columns ``file, class_index``, e.g. ``imagenet/sample``) or of bare photos.
  The view is, with ``view="resize"`` (the default), the whole photo resized to ``size``
  ignoring its aspect ratio (as the metric resizes its crops); with ``view="center-crop"``,
  the usual ImageNet evaluation crop (shorter side to ``size / 0.875``, center crop ``size``),
  which cuts off the border. Boxes go through the same geometry (clipped to a crop).
* A ``.npz`` with ``images`` (N, h, w, 3) uint8 and ``labels`` (N,) (the shared
  CIFAR-10 subsets): images as they are (resized to ``size`` only if it differs).

Example:
    >>> from blackbox_saliency.evaluation.datasets import open_dataset
    >>> data = open_dataset("../shared/data/imagenet/val_dev", size=(224, 224))  # doctest: +SKIP
    >>> sample = data[0]  # doctest: +SKIP
    >>> sample.image.shape, sample.label, sample.boxes.shape  # doctest: +SKIP
    (torch.Size([3, 224, 224]), 969, torch.Size([1, 4]))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..data.boxes_csv import load_val_boxes
from ..data.folders import detect_kind, list_flat
from ..data.index_csv import read_index_csv
from ..data.npz import read_npz
from ..data.transforms import CROP_FRACTION, center_crop
from ..errors import DataNotFoundError, InputError
from ..io import IMAGE_SUFFIXES, open_rgb
from ..metrics.frames import center_crop_mapping, resize_mapping

__all__ = [
    "EvalSample",
    "EvalBatch",
    "EvalDataset",
    "PhotoFolder",
    "NpzDataset",
    "open_dataset",
    "collate",
    "VIEWS",
]

VIEWS = ("resize", "center-crop")


@dataclass
class EvalSample:
    """One view (3, H, W) in [0, 1], its label (-1 = unknown), boxes (K, 4) in view pixels or ``None``, a name,
    and (photos only) the original photo ``source`` (3, H0, W0) with the view's ``view_to_source`` (4,) mapping."""

    image: torch.Tensor
    label: int
    boxes: torch.Tensor | None
    name: str
    source: torch.Tensor | None = None
    view_to_source: torch.Tensor | None = None


@dataclass
class EvalBatch:
    """A collated batch: images (B, 3, H, W), labels (B,) int64, boxes (list of (K_i, 4)) or ``None``, names,
    and the original photos (list) with their (B, 4) view-to-source mapping, or ``None``."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: list[torch.Tensor] | None
    names: list[str]
    sources: list[torch.Tensor] | None = None
    view_to_source: torch.Tensor | None = None


def collate(samples: Sequence[EvalSample]) -> EvalBatch:
    """Stack samples into an :class:`EvalBatch` (boxes only when every sample has them)."""
    images = torch.stack([s.image for s in samples])
    labels = torch.tensor([s.label for s in samples], dtype=torch.int64)
    boxes = [s.boxes for s in samples] if all(s.boxes is not None for s in samples) else None
    with_sources = all(s.source is not None and s.view_to_source is not None for s in samples)
    sources = [s.source for s in samples] if with_sources else None
    mapping = torch.stack([s.view_to_source for s in samples]) if with_sources else None
    return EvalBatch(images, labels, boxes, [s.name for s in samples], sources, mapping)


class EvalDataset:
    """Template base: subclasses implement ``__len__`` and ``__getitem__`` returning :class:`EvalSample`."""

    has_boxes = False
    has_labels = True
    has_sources = False
    description = ""

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> EvalSample:  # pragma: no cover - abstract
        raise NotImplementedError

    def largest_label(self) -> int | None:
        """The largest class index among the labels (None when unknown without reading every sample)."""
        labels = getattr(self, "labels", None)
        values = (
            list(labels.values()) if isinstance(labels, dict) else ([] if labels is None else [int(v) for v in labels])
        )
        return max(values) if values else None

    def check_classifier(self, num_classes: int, classifier_name: str) -> None:
        """InputError when the labels name classes the classifier does not have (a classifier for another data set)."""
        from ..errors import InputError

        top = self.largest_label()
        if top is not None and top >= num_classes:
            raise InputError(
                f"the data's labels go up to class {top}, but the classifier {classifier_name!r} has {num_classes} "
                "classes: the data and the classifier do not match; pass the classifier the data was labelled for "
                "(--classifier)."
            )


def _read_photo(path: Path) -> Image.Image:
    # the official boxes are in the stored pixel grid: no EXIF rotation
    return open_rgb(path, exif_orientation=False)


class PhotoFolder(EvalDataset):
    """Photos of a folder as views of ``size`` (``view``: ``"resize"`` or ``"center-crop"``), with their originals;
    labels and boxes from ``boxes.csv`` / ``index.csv`` when present."""

    has_sources = True

    def __init__(self, root: str | os.PathLike[str], size: tuple[int, int] = (224, 224), view: str = "resize") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataNotFoundError(f"{self.root} is not a folder of photos.")
        if view not in VIEWS:
            raise InputError(f"`view` must be one of {VIEWS}, got {view!r}.")
        self.size = (int(size[0]), int(size[1]))
        self.view = view
        self.resize, self.crop = center_crop(self.size).transforms
        self.squash = v2.Resize(self.size, interpolation=v2.InterpolationMode.BILINEAR, antialias=True)
        self.labels: dict[str, int] = {}
        self.gt_boxes: dict[str, torch.Tensor] = {}
        boxes_csv, index_csv = self.root / "boxes.csv", self.root / "index.csv"
        kind = detect_kind(self.root, boxes=True)
        if kind == "boxes_csv":
            for name, truth in load_val_boxes(boxes_csv).items():
                self.labels[name] = truth.class_index
                self.gt_boxes[name] = truth.boxes
            self.files = sorted(self.labels)
            self.has_boxes = True
            self.description = f"{self.root.name}: photos with ground-truth boxes ({boxes_csv.name})"
        elif kind == "index_csv":
            self.labels = dict(zip(*read_index_csv(index_csv, require_labels=True)))
            self.files = sorted(self.labels)
            self.description = f"{self.root.name}: labelled photos ({index_csv.name})"
        else:  # flat; of an ImageFolder tree or a folder of .npz files, the photos at its top level
            self.files = [p.name for p in list_flat(self.root)]
            self.has_labels = False
            self.description = f"{self.root.name}: unlabelled photos"
        if not self.files:
            raise DataNotFoundError(f"{self.root} holds no photo ({', '.join(IMAGE_SUFFIXES)}).")
        missing = [f for f in self.files[:50] if not (self.root / f).is_file()]
        if missing:
            raise DataNotFoundError(f"{self.root} lacks files listed in its CSV, e.g. {missing[:3]}.")
        if view == "resize":
            self.description += f", whole photo resized to {self.size[0]}x{self.size[1]} (aspect ratio ignored)"
        else:
            shorter = round(min(self.size) / CROP_FRACTION)
            height, width = self.size
            self.description += f", center crop {height}x{width} after resizing the shorter side to {shorter}"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> EvalSample:
        name = self.files[index]
        photo = _read_photo(self.root / name)
        source_size = (photo.height, photo.width)
        raw = None
        if name in self.gt_boxes:
            raw = tv_tensors.BoundingBoxes(self.gt_boxes[name], format="XYXY", canvas_size=source_size)
        if self.view == "resize":
            view, moved = self.squash(photo, raw)
            mapping = resize_mapping(self.size, [source_size])[0]
        else:
            resized, moved = self.resize(photo, raw)
            view, moved = self.crop(resized, moved)
            mapping = center_crop_mapping(source_size, (resized.height, resized.width), self.size)[0]
        boxes = None if raw is None else moved.as_subclass(torch.Tensor).float()
        image, source = (
            v2.functional.to_dtype(v2.functional.to_image(p), torch.float32, scale=True).as_subclass(torch.Tensor)
            for p in (view, photo)
        )
        return EvalSample(image, self.labels.get(name, -1), boxes, name, source, mapping)


class NpzDataset(EvalDataset):
    """Images and labels of an ``.npz`` (``images`` (N, h, w, 3) uint8, ``labels`` (N,)), e.g.
    ``cifar10_test2k.npz``."""

    def __init__(self, path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.images, self.labels, _ = read_npz(self.path, require_labels=True)
        self.size = tuple(self.images.shape[1:3]) if size is None else (int(size[0]), int(size[1]))
        self.description = (
            f"{self.path.name}: {len(self)} images of {self.images.shape[1]}x{self.images.shape[2]} px, no boxes"
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> EvalSample:
        image = torch.from_numpy(self.images[index]).permute(2, 0, 1).float().div_(255)
        if tuple(image.shape[-2:]) != self.size:
            image = F.interpolate(image[None], size=self.size, mode="bilinear", align_corners=False, antialias=True)[
                0
            ].clamp_(0, 1)
        return EvalSample(image, int(self.labels[index]), None, f"{self.path.stem}[{index}]")


def open_dataset(path: str | os.PathLike[str], size: tuple[int, int] = (224, 224), view: str = "resize") -> EvalDataset:
    """Open ``path`` as a :class:`NpzDataset` (``.npz`` file) or a :class:`PhotoFolder` (folder, with ``view``)."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(
            f"{path} does not exist; pass a folder of photos (with boxes.csv or index.csv) or an .npz file."
        )
    if path.is_file() and detect_kind(path) == "npz":  # any other file: InputError (not an .npz archive)
        return NpzDataset(path, size=size)
    return PhotoFolder(path, size=size, view=view)
