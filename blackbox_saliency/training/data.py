"""Training and validation data for the masker: one entry point, :func:`build_dataset`.

The files are read by the data layer (:mod:`blackbox_saliency.data`); this module adds what training needs:
seeded ``(index, seed)`` keys and joined parts (:class:`ConcatImages`); label alignment is
:func:`~blackbox_saliency.training.labels.align_labels`.

Supported layouts (``kind="auto"`` detects them):

* ``npz``: a ``.npz`` file with ``images`` (uint8, N x H x W x 3), ``labels`` (int, N) and optionally
  ``classes`` (str, K), e.g. ``cifar10/cifar10_train25k.npz``. A *folder* holding ``.npz`` files works
  too: the file whose name contains ``train`` is used for training, the one containing ``test`` or
  ``val`` otherwise.
* ``index_csv``: a flat folder of photos plus ``index.csv`` with columns ``file`` and ``class_index``
  (e.g. ``imagenet/sample``).
* ``imagefolder``: torchvision ImageFolder layout, one sub-folder of photos per class.
* ``flat``: a folder of photos without labels (labels are -1; train with ``labels="blackbox"``).

Samples are ``(image, label)``: a float32 (3, S, S) tensor in [0, 1] and an int label (-1 when
unlabelled). The dataset also accepts ``(index, seed)`` keys: the random augmentation of that sample
is then drawn from ``seed`` alone, which makes the data stream reproducible whatever the number of
loader workers, and lets an interrupted run resume exactly.

Example:
    >>> from blackbox_saliency.training.data import build_dataset
    >>> data = build_dataset("../shared/data/cifar10/cifar10_test2k.npz", 32, train=True)  # doctest: +SKIP
    >>> image, label = data[(0, 1234)]  # doctest: +SKIP
    >>> image.shape, label  # doctest: +SKIP
    (torch.Size([3, 32, 32]), 0)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..data.folders import detect_kind, list_flat, list_imagefolder
from ..data.index_csv import read_index_csv
from ..data.npz import pick_npz, read_npz
from ..data.subsets import evenly_spaced
from ..data.transforms import AUGMENTATIONS, build_transform
from ..errors import DataNotFoundError, ImageReadError, InputError
from ..io import open_rgb

__all__ = [
    "AUGMENTATIONS",
    "DATA_KINDS",
    "VIEW_OPTIONS",
    "ConcatImages",
    "ImageDataset",
    "build_dataset",
    "build_transform",
    "detect_kind",
    "evenly_spaced_subset",
]

DATA_KINDS = ("auto", "npz", "index_csv", "imagefolder", "flat")


class ImageDataset(Dataset):
    """Images with integer labels (-1 = unlabelled) and an optional transform.

    Subclasses implement :meth:`raw` (a PIL image or uint8 (3, H, W) tensor) and fill ``labels``.
    Keys are ``int`` or ``(index, seed)``; with a seed the transform's randomness comes from that seed
    only (the global torch RNG is left untouched).

    Attributes:
        labels: int64 numpy array (N,).
        classes: class names when the data set names them (index = label), else ``None``.
        source: where the data comes from (for messages and metadata).
        kind: the layout (``npz``, ``index_csv``, ``imagefolder``, ``flat``).
    """

    kind = "base"

    def __init__(self, transform: Callable[[object], torch.Tensor] | None = None) -> None:
        self.transform = transform
        self.labels = np.zeros(0, dtype=np.int64)
        self.classes: list[str] | None = None
        self.source = ""

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def labelled(self) -> bool:
        """True when every sample has a label (>= 0)."""
        return len(self) > 0 and bool((self.labels >= 0).all())

    def raw(self, index: int) -> object:
        raise NotImplementedError

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, seed = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), None)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of {len(self)} images")
        image, label = self.raw_with_label(index)
        if self.transform is not None:
            if seed is None:
                image = self.transform(image)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    image = self.transform(image)
        return image, label

    def raw_with_label(self, index: int) -> tuple[object, int]:
        """The raw image at ``index`` and its label (a data set may substitute a readable sample for a broken one)."""
        return self.raw(index), int(self.labels[index])


class NpzImages(ImageDataset):
    """Images held in an ``.npz`` archive (``images`` uint8 NHWC, ``labels``, optional ``classes``)."""

    kind = "npz"

    def __init__(self, path: Path, transform: Callable[[object], torch.Tensor] | None = None) -> None:
        super().__init__(transform)
        images, labels, classes = read_npz(path)
        self.images = images
        self.labels = labels
        self.classes = classes
        self.source = str(path)

    def raw(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.images[index])).permute(2, 0, 1)


class _FileImages(ImageDataset):
    """Photos read from files with PIL."""

    def __init__(self, files: Sequence[Path], labels: Sequence[int], transform, source: str) -> None:
        super().__init__(transform)
        self.files = [Path(f) for f in files]
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.source = source

    #: How many photos in a row may be unreadable before sampling gives up.
    MAX_UNREADABLE_IN_A_ROW = 16

    def raw(self, index: int) -> Image.Image:
        return open_rgb(self.files[index], exif_orientation=False)

    def raw_with_label(self, index: int) -> tuple[object, int]:
        """The photo at ``index``; an unreadable one is skipped (warned once per file and loader process, counted in
        :attr:`unreadable`) and the next readable photo is returned with *its* label."""
        unreadable = self.__dict__.setdefault("unreadable", set())
        for step in range(min(len(self), self.MAX_UNREADABLE_IN_A_ROW)):
            i = (index + step) % len(self)
            try:
                return self.raw(i), int(self.labels[i])
            except ImageReadError as error:
                if self.files[i] not in unreadable:
                    unreadable.add(self.files[i])
                    warnings.warn(f"skipping an unreadable training photo ({len(unreadable)} so far): {error}",
                                  stacklevel=2)
        raise ImageReadError(f"{self.MAX_UNREADABLE_IN_A_ROW} photos in a row from {self.files[index]} are unreadable; "
                             f"check the data folder {self.source} (a failed copy or download?).")


class IndexCsvImages(_FileImages):
    """A flat folder of photos listed in ``index.csv`` (columns ``file``, ``class_index``)."""

    kind = "index_csv"

    def __init__(self, folder: Path, transform=None) -> None:
        index = folder / "index.csv"
        rows = read_index_csv(index)
        files = [folder / name for name in rows.files]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DataNotFoundError(f"{len(missing)} file(s) listed in {index} are missing, e.g. {missing[0]}.")
        super().__init__(files, rows.labels, transform, str(folder))


class ImageFolderImages(_FileImages):
    """torchvision ImageFolder layout: ``root/<class>/**/<image>``; labels follow the sorted class names."""

    kind = "imagefolder"

    def __init__(self, folder: Path, transform=None) -> None:
        files, labels, classes = list_imagefolder(folder)
        super().__init__(files, labels, transform, str(folder))
        self.classes = classes


class FlatImages(_FileImages):
    """A folder of photos without labels (label -1)."""

    kind = "flat"

    def __init__(self, folder: Path, transform=None) -> None:
        files = list_flat(folder)
        super().__init__(files, [-1] * len(files), transform, str(folder))


class _Subset(ImageDataset):
    """A view on some indices of another :class:`ImageDataset` (keeps ``(index, seed)`` keys working)."""

    def __init__(self, base: ImageDataset, indices: Sequence[int]) -> None:
        super().__init__(None)
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)
        self.labels = base.labels[self.indices]
        self.classes = base.classes
        self.source = base.source
        self.kind = base.kind

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self.base[(int(self.indices[int(key[0])]), int(key[1]))]
        return self.base[int(self.indices[int(key)])]


class ConcatImages(ImageDataset):
    """Several :class:`ImageDataset` parts read as one, without copying files.

    Each part's labels go through its lookup table first (``tables[i]``, from
    :func:`~blackbox_saliency.training.labels.align_labels`;
    ``None`` keeps them), so the joined labels are the classifier's class indices and ``classes`` is
    ``None``. ``(index, seed)`` keys keep working.

    Example:
        >>> from blackbox_saliency.training.data import ConcatImages, build_dataset
        >>> folders = ("imagenet/sample", "imagenet/train_extra")
        >>> parts = [build_dataset(p, 224, train=True) for p in folders]  # doctest: +SKIP
        >>> len(ConcatImages(parts))  # doctest: +SKIP
        2285
    """

    def __init__(self, parts: Sequence[ImageDataset], tables: Sequence[np.ndarray | None] | None = None) -> None:
        super().__init__(None)
        if not parts:
            raise InputError("ConcatImages needs at least one data set.")
        tables = list(tables) if tables is not None else [None] * len(parts)
        if len(tables) != len(parts):
            raise InputError(f"ConcatImages got {len(parts)} data sets but {len(tables)} label tables.")
        self.parts = list(parts)
        labels = []
        for part, table in zip(self.parts, tables):
            part_labels = part.labels.copy()
            if table is not None:
                known = part_labels >= 0
                part_labels[known] = table[part_labels[known]]
            labels.append(part_labels)
        self.labels = np.concatenate(labels).astype(np.int64)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.source = " + ".join(p.source for p in self.parts)
        self.kind = "+".join(p.kind for p in self.parts)

    def __getitem__(self, key):
        index, seed = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), None)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of {len(self)} images")
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        local = index - int(self.offsets[part])
        image, _ = self.parts[part][(local, seed) if seed is not None else local]
        return image, int(self.labels[index])


def evenly_spaced_subset(dataset: ImageDataset, size: int | None) -> ImageDataset:
    """Return ``size`` evenly spaced samples (the whole set when ``size`` is None or >= len).

    Evenly spaced rather than the first ones, so that class-sorted files (CIFAR npz) keep every class; the first
    and the last sample are kept (:func:`blackbox_saliency.data.subsets.evenly_spaced` with ``endpoint=True``).
    """
    if size is None or size >= len(dataset):
        return dataset
    if size < 1:
        raise InputError(f"subset size must be >= 1, got {size}.")
    return _Subset(dataset, evenly_spaced(len(dataset), int(size), endpoint=True))


#: How training views of a data set are drawn: the keywords of :func:`build_dataset` passed to :func:`build_transform`.
VIEW_OPTIONS = ("augment", "crop_scale", "whole_view_prob")


def build_dataset(
    path: str | os.PathLike[str],
    image_size: int,
    train: bool,
    kind: str = "auto",
    limit: int | None = None,
    **views: Any,
) -> ImageDataset:
    """Open the images at ``path`` as an :class:`ImageDataset` of (3, S, S) float tensors in [0, 1].

    Args:
        path: ``.npz`` file, folder of ``.npz`` files, folder with ``index.csv``, ImageFolder root, or a
            flat folder of photos.
        image_size: side ``S`` of the square images produced.
        train: random augmentation (see :func:`build_transform`) when True; deterministic resize/crop otherwise.
        kind: ``auto`` (detect) or one of ``npz``, ``index_csv``, ``imagefolder``, ``flat``.
        limit: keep at most this many (evenly spaced) samples.
        views: how training views are drawn (:data:`VIEW_OPTIONS`): ``augment`` (``none``, ``standard`` (the
            default) or ``heavy``; ignored when ``train`` is False), ``crop_scale`` (area range of the random
            resized crop, default ``(0.35, 1.0)``) and ``whole_view_prob`` (share of training views that are the
            whole photo resized to ``S x S`` instead of a random crop, default 0).

    Raises:
        DataNotFoundError: the path does not exist or holds no images.
        InputError: bad option or malformed index / archive.
    """
    unknown = sorted(set(views) - set(VIEW_OPTIONS))
    if unknown:
        raise InputError(f"unknown data option(s) {unknown}; training views take {list(VIEW_OPTIONS)}.")
    if kind not in DATA_KINDS:
        raise InputError(f"`kind` must be one of {DATA_KINDS}, got {kind!r}.")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"data path {path} does not exist; pass an .npz file or a folder of images.")
    detected = detect_kind(path) if kind == "auto" else kind
    transform = build_transform(image_size, train, photos=detected != "npz", **views)
    dataset = _open(path, detected, train, transform)
    if len(dataset) == 0:
        raise DataNotFoundError(f"no images found in {path} (kind {detected!r}).")
    return evenly_spaced_subset(dataset, limit)


def _open(path: Path, kind: str, train: bool, transform: Callable[[object], torch.Tensor]) -> ImageDataset:
    """The data set of layout ``kind`` at ``path`` (an npz folder: its training or its test archive)."""
    if kind == "npz":
        return NpzImages(pick_npz(path, train) if path.is_dir() else path, transform)
    if not path.is_dir():
        raise InputError(f"data kind {kind!r} needs a folder, but {path} is a file.")
    if kind == "index_csv":
        if not (path / "index.csv").is_file():
            raise DataNotFoundError(f"{path} has no index.csv (needed for kind 'index_csv').")
        return IndexCsvImages(path, transform)
    if kind == "imagefolder":
        return ImageFolderImages(path, transform)
    return FlatImages(path, transform)
