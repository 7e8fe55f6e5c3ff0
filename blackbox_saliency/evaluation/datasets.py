"""Data sets for evaluation: ImageNet-style photo folders (with boxes) and CIFAR-style ``.npz`` files.

Every data set yields :class:`EvalSample` items: an image (3, H, W) in [0, 1],
its label (or ``-1`` when unknown), its ground-truth boxes in the image's
pixels (``None`` when the data set has none) and a name.

* A folder with ``boxes.csv`` (the ILSVRC localisation format of
  ``imagenet/val_dev``): each photo is resized so that its shorter side is
  ``size / 0.875`` and center-cropped to ``size`` (the usual ImageNet
  evaluation, 256 -> 224); its boxes go through the *same* torchvision
  transform, so they are exact in the crop (clipped to it).
* A folder with ``index.csv`` (columns ``file, class_index``, e.g.
  ``imagenet/sample``) or of bare photos: same crop, no boxes.
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

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..errors import DataNotFoundError, InputError
from ..io import open_rgb

__all__ = ["EvalSample", "EvalBatch", "EvalDataset", "PhotoFolder", "NpzDataset", "open_dataset", "collate", "crop_transform"]

CROP_FRACTION = 0.875
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


@dataclass
class EvalSample:
    """One image (3, H, W) in [0, 1], its label (-1 = unknown), boxes (K, 4) or ``None``, and a name."""

    image: torch.Tensor
    label: int
    boxes: torch.Tensor | None
    name: str


@dataclass
class EvalBatch:
    """A collated batch: images (B, 3, H, W), labels (B,) int64, boxes (list of (K_i, 4)) or ``None``, names."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: list[torch.Tensor] | None
    names: list[str]


def collate(samples: Sequence[EvalSample]) -> EvalBatch:
    """Stack samples into an :class:`EvalBatch` (boxes only when every sample has them)."""
    images = torch.stack([s.image for s in samples])
    labels = torch.tensor([s.label for s in samples], dtype=torch.int64)
    boxes = [s.boxes for s in samples] if all(s.boxes is not None for s in samples) else None
    return EvalBatch(images, labels, boxes, [s.name for s in samples])


class EvalDataset:
    """Template base: subclasses implement ``__len__`` and ``__getitem__`` returning :class:`EvalSample`."""

    has_boxes = False
    has_labels = True
    description = ""

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> EvalSample:  # pragma: no cover - abstract
        raise NotImplementedError


def crop_transform(size: tuple[int, int], crop_fraction: float = CROP_FRACTION) -> v2.Compose:
    """Resize the shorter side to ``min(size) / crop_fraction`` and center-crop ``size``; applies to images and boxes alike."""
    resize = int(round(min(size) / crop_fraction))
    return v2.Compose([v2.Resize(resize, interpolation=v2.InterpolationMode.BILINEAR, antialias=True), v2.CenterCrop(size)])


def _read_photo(path: Path) -> Image.Image:
    # the official boxes are in the stored pixel grid: no EXIF rotation
    return open_rgb(path, exif_orientation=False)


class PhotoFolder(EvalDataset):
    """Photos of a folder, center-cropped to ``size``; labels and boxes from ``boxes.csv`` / ``index.csv`` when present."""

    def __init__(self, root: str | os.PathLike[str], size: tuple[int, int] = (224, 224)) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataNotFoundError(f"{self.root} is not a folder of photos.")
        self.size = (int(size[0]), int(size[1]))
        self.transform = crop_transform(self.size)
        self.labels: dict[str, int] = {}
        self.gt_boxes: dict[str, torch.Tensor] = {}
        boxes_csv, index_csv = self.root / "boxes.csv", self.root / "index.csv"
        if boxes_csv.is_file():
            from ..metrics.boxes import load_val_boxes

            for name, truth in load_val_boxes(boxes_csv).items():
                self.labels[name] = truth.class_index
                self.gt_boxes[name] = truth.boxes
            self.files = sorted(self.labels)
            self.has_boxes = True
            self.description = f"{self.root.name}: photos with ground-truth boxes ({boxes_csv.name})"
        elif index_csv.is_file():
            with open(index_csv, newline="") as handle:
                reader = csv.DictReader(handle)
                if not {"file", "class_index"} <= set(reader.fieldnames or []):
                    raise InputError(f"{index_csv} needs the columns file, class_index; found {reader.fieldnames}.")
                self.labels = {row["file"]: int(row["class_index"]) for row in reader}
            self.files = sorted(self.labels)
            self.description = f"{self.root.name}: labelled photos ({index_csv.name})"
        else:
            self.files = sorted(p.name for p in self.root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            self.has_labels = False
            self.description = f"{self.root.name}: unlabelled photos"
        if not self.files:
            raise DataNotFoundError(f"{self.root} holds no photo ({', '.join(IMAGE_SUFFIXES)}).")
        missing = [f for f in self.files[:50] if not (self.root / f).is_file()]
        if missing:
            raise DataNotFoundError(f"{self.root} lacks files listed in its CSV, e.g. {missing[:3]}.")
        self.description += f", center crop {self.size[0]}x{self.size[1]} after resizing the shorter side to {round(min(self.size) / CROP_FRACTION)}"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> EvalSample:
        name = self.files[index]
        photo = _read_photo(self.root / name)
        boxes = None
        if name in self.gt_boxes:
            canvas = (photo.height, photo.width)
            raw = tv_tensors.BoundingBoxes(self.gt_boxes[name], format="XYXY", canvas_size=canvas)
            photo, moved = self.transform(photo, raw)
            boxes = moved.as_subclass(torch.Tensor).float()
        else:
            photo = self.transform(photo)
        image = v2.functional.to_dtype(v2.functional.to_image(photo), torch.float32, scale=True).as_subclass(torch.Tensor)
        return EvalSample(image, self.labels.get(name, -1), boxes, name)


class NpzDataset(EvalDataset):
    """Images and labels of an ``.npz`` (``images`` (N, h, w, 3) uint8, ``labels`` (N,)), e.g. ``cifar10_test2k.npz``."""

    def __init__(self, path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataNotFoundError(f"{self.path} does not exist; pass the path of an .npz with `images` and `labels`.")
        try:
            with np.load(self.path) as data:
                self.images = np.asarray(data["images"])
                self.labels = np.asarray(data["labels"]).astype(np.int64)
        except KeyError as error:
            raise InputError(f"{self.path} lacks the array {error}; it needs `images` (N, h, w, 3) uint8 and `labels` (N,).") from None
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read {self.path} as an .npz file: {error}.") from error
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise InputError(f"{self.path}: `images` must be (N, h, w, 3) uint8, got {self.images.shape} {self.images.dtype}.")
        if self.labels.shape != (self.images.shape[0],):
            raise InputError(f"{self.path}: `labels` must have shape ({self.images.shape[0]},), got {self.labels.shape}.")
        self.size = tuple(self.images.shape[1:3]) if size is None else (int(size[0]), int(size[1]))
        self.description = f"{self.path.name}: {len(self)} images of {self.images.shape[1]}x{self.images.shape[2]} px, no boxes"

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> EvalSample:
        image = torch.from_numpy(self.images[index]).permute(2, 0, 1).float().div_(255)
        if tuple(image.shape[-2:]) != self.size:
            image = F.interpolate(image[None], size=self.size, mode="bilinear", align_corners=False, antialias=True)[0].clamp_(0, 1)
        return EvalSample(image, int(self.labels[index]), None, f"{self.path.stem}[{index}]")


def open_dataset(path: str | os.PathLike[str], size: tuple[int, int] = (224, 224)) -> EvalDataset:
    """Open ``path`` as a :class:`NpzDataset` (``.npz`` file) or a :class:`PhotoFolder` (folder)."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path} does not exist; pass a folder of photos (with boxes.csv or index.csv) or an .npz file.")
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise InputError(f"{path} is a file but not an .npz; pass an .npz with `images`/`labels` or a folder of photos.")
        return NpzDataset(path, size=size)
    return PhotoFolder(path, size=size)
