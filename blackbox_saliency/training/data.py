"""Training and validation data for the masker: one entry point, :func:`build_dataset`.

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

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from ..errors import DataNotFoundError, ImageReadError, InputError
from ..io import IMAGE_SUFFIXES, open_rgb

__all__ = [
    "AUGMENTATIONS",
    "DATA_KINDS",
    "IMAGE_EXTENSIONS",
    "ConcatImages",
    "ImageDataset",
    "align_labels",
    "build_dataset",
    "build_transform",
    "detect_kind",
    "evenly_spaced_subset",
]

DATA_KINDS = ("auto", "npz", "index_csv", "imagefolder", "flat")
AUGMENTATIONS = ("none", "standard", "heavy")
IMAGE_EXTENSIONS = IMAGE_SUFFIXES
EVAL_CROP_FRACTION = 0.875  # photos: resize the shorter side to size / 0.875, then center-crop (224 <- 256)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _pick_npz(folder: Path, train: bool) -> Path:
    files = sorted(p for p in folder.glob("*.npz") if p.is_file())
    if len(files) == 1:
        return files[0]
    words = ("train",) if train else ("test", "val")
    matching = [p for p in files if any(w in p.name.lower() for w in words)]
    if len(matching) != 1:
        raise InputError(
            f"{folder} holds {len(files)} .npz files ({', '.join(p.name for p in files)}) and none (or several) "
            f"has {' or '.join(words)!r} in its name; pass the .npz file itself."
        )
    return matching[0]


def detect_kind(path: str | os.PathLike[str]) -> str:
    """Return the layout of ``path``: ``npz``, ``index_csv``, ``imagefolder`` or ``flat``."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"data path {path} does not exist; pass an .npz file or a folder of images.")
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return "npz"
        raise InputError(f"data file {path} is not an .npz archive; pass an .npz file or a folder of images.")
    if (path / "index.csv").is_file():
        return "index_csv"
    if any(p.is_file() for p in path.glob("*.npz")):
        return "npz"
    subfolders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if any(any(_is_image(f) for f in d.rglob("*")) for d in subfolders):
        return "imagefolder"
    if any(_is_image(f) for f in path.iterdir()):
        return "flat"
    raise DataNotFoundError(
        f"no images found in {path}: expected an .npz file, index.csv, class sub-folders of images, or image files "
        f"({', '.join(IMAGE_EXTENSIONS)})."
    )


class _PlainTensor:
    """Drop torchvision's ``tv_tensors.Image`` subclass."""

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return image.as_subclass(torch.Tensor)

    def __repr__(self) -> str:
        return "PlainTensor()"


def build_transform(
    image_size: int,
    train: bool,
    augment: str = "standard",
    crop_scale: tuple[float, float] = (0.35, 1.0),
    photos: bool = True,
) -> Callable[[object], torch.Tensor]:
    """Transform from a PIL image or uint8 (3, H, W) tensor to a float32 (3, S, S) tensor in [0, 1].

    Training (``augment`` ``standard``): random resized crop (area fraction ``crop_scale``) and horizontal
    flip; ``heavy`` adds colour jitter. Evaluation (or ``augment="none"``): photos are resized (shorter
    side ``S / 0.875``) and center-cropped; small arrays (``photos=False``) are resized to ``S x S``.
    """
    if augment not in AUGMENTATIONS:
        raise InputError(f"`augment` must be one of {AUGMENTATIONS}, got {augment!r}.")
    size = int(image_size)
    if size < 8:
        raise InputError(f"`image_size` must be >= 8 pixels, got {image_size}.")
    lo, hi = (float(v) for v in crop_scale)
    if not 0.0 < lo <= hi <= 1.0:
        raise InputError(f"`crop_scale` must satisfy 0 < min <= max <= 1, got {crop_scale!r}.")
    steps: list[object] = [v2.ToImage()]
    if train and augment != "none":
        steps += [
            v2.RandomResizedCrop(size, scale=(lo, hi), antialias=True),
            v2.RandomHorizontalFlip(),
        ]
        if augment == "heavy":
            steps.append(v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05))
    elif photos:
        steps += [v2.Resize(int(round(size / EVAL_CROP_FRACTION)), antialias=True), v2.CenterCrop(size)]
    else:
        steps.append(v2.Resize((size, size), antialias=True))
    steps += [v2.ToDtype(torch.float32, scale=True), _PlainTensor()]
    return v2.Compose(steps)


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
        image = self.raw(index)
        if self.transform is not None:
            if seed is None:
                image = self.transform(image)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    image = self.transform(image)
        return image, int(self.labels[index])


class NpzImages(ImageDataset):
    """Images held in an ``.npz`` archive (``images`` uint8 NHWC, ``labels``, optional ``classes``)."""

    kind = "npz"

    def __init__(self, path: Path, transform: Callable[[object], torch.Tensor] | None = None) -> None:
        super().__init__(transform)
        try:
            with np.load(path, allow_pickle=False) as archive:
                missing = {"images"} - set(archive.files)
                if missing:
                    raise InputError(f"{path} has no `images` array (found {archive.files}); expected images (N,H,W,3) uint8 and labels (N,).")
                images = archive["images"]
                labels = archive["labels"] if "labels" in archive.files else None
                classes = archive["classes"] if "classes" in archive.files else None
        except (OSError, ValueError, EOFError) as error:
            if isinstance(error, InputError):
                raise
            raise ImageReadError(f"cannot read the .npz archive {path}: {error}") from error
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise InputError(f"{path}: `images` must be uint8 of shape (N, H, W, 3), got {images.dtype} {images.shape}.")
        if labels is None:
            labels = np.full(images.shape[0], -1, dtype=np.int64)
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if labels.shape[0] != images.shape[0]:
            raise InputError(f"{path}: {images.shape[0]} images but {labels.shape[0]} labels.")
        self.images = images
        self.labels = labels
        self.classes = [str(c) for c in classes] if classes is not None else None
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

    def raw(self, index: int) -> Image.Image:
        return open_rgb(self.files[index], exif_orientation=False)


class IndexCsvImages(_FileImages):
    """A flat folder of photos listed in ``index.csv`` (columns ``file``, ``class_index``)."""

    kind = "index_csv"

    def __init__(self, folder: Path, transform=None) -> None:
        index = folder / "index.csv"
        with open(index, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "file" not in reader.fieldnames:
                raise InputError(f"{index} must have a header with at least the column `file` (and `class_index`); got {reader.fieldnames}.")
            rows = list(reader)
        files, labels = [], []
        for number, row in enumerate(rows, start=2):
            files.append(folder / row["file"])
            value = (row.get("class_index") or "").strip()
            try:
                labels.append(int(value) if value else -1)
            except ValueError as error:
                raise InputError(f"{index} line {number}: class_index {value!r} is not an integer.") from error
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DataNotFoundError(f"{len(missing)} file(s) listed in {index} are missing, e.g. {missing[0]}.")
        super().__init__(files, labels, transform, str(folder))


class ImageFolderImages(_FileImages):
    """torchvision ImageFolder layout: ``root/<class>/**/<image>``; labels follow the sorted class names."""

    kind = "imagefolder"

    def __init__(self, folder: Path, transform=None) -> None:
        classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        files, labels = [], []
        kept = []
        for name in classes:
            found = sorted(f for f in (folder / name).rglob("*") if _is_image(f))
            if found:
                kept.append(name)
                files += found
                labels += [len(kept) - 1] * len(found)
        super().__init__(files, labels, transform, str(folder))
        self.classes = kept


class FlatImages(_FileImages):
    """A folder of photos without labels (label -1)."""

    kind = "flat"

    def __init__(self, folder: Path, transform=None) -> None:
        files = sorted(f for f in folder.iterdir() if _is_image(f))
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

    Each part's labels go through its lookup table first (``tables[i]``, from :func:`align_labels`;
    ``None`` keeps them), so the joined labels are the classifier's class indices and ``classes`` is
    ``None``. ``(index, seed)`` keys keep working.

    Example:
        >>> from blackbox_saliency.training.data import ConcatImages, build_dataset
        >>> parts = [build_dataset(p, 224, train=True) for p in ("imagenet/sample", "imagenet/train_extra")]  # doctest: +SKIP
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

    Evenly spaced rather than the first ones, so that class-sorted files (CIFAR npz) keep every class.
    """
    if size is None or size >= len(dataset):
        return dataset
    if size < 1:
        raise InputError(f"subset size must be >= 1, got {size}.")
    indices = np.unique(np.linspace(0, len(dataset) - 1, int(size)).round().astype(np.int64))
    return _Subset(dataset, indices)


def build_dataset(
    path: str | os.PathLike[str],
    image_size: int,
    train: bool,
    kind: str = "auto",
    augment: str = "standard",
    crop_scale: tuple[float, float] = (0.35, 1.0),
    limit: int | None = None,
) -> ImageDataset:
    """Open the images at ``path`` as an :class:`ImageDataset` of (3, S, S) float tensors in [0, 1].

    Args:
        path: ``.npz`` file, folder of ``.npz`` files, folder with ``index.csv``, ImageFolder root, or a
            flat folder of photos.
        image_size: side ``S`` of the square images produced.
        train: random augmentation (see :func:`build_transform`) when True; deterministic resize/crop otherwise.
        kind: ``auto`` (detect) or one of ``npz``, ``index_csv``, ``imagefolder``, ``flat``.
        augment: ``none``, ``standard`` or ``heavy`` (ignored when ``train`` is False).
        crop_scale: area range of the random resized crop.
        limit: keep at most this many (evenly spaced) samples.

    Raises:
        DataNotFoundError: the path does not exist or holds no images.
        InputError: bad option or malformed index / archive.
    """
    if kind not in DATA_KINDS:
        raise InputError(f"`kind` must be one of {DATA_KINDS}, got {kind!r}.")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"data path {path} does not exist; pass an .npz file or a folder of images.")
    detected = detect_kind(path) if kind == "auto" else kind
    transform = build_transform(image_size, train, augment, crop_scale, photos=detected != "npz")
    if detected == "npz":
        dataset: ImageDataset = NpzImages(_pick_npz(path, train) if path.is_dir() else path, transform)
    elif not path.is_dir():
        raise InputError(f"data kind {detected!r} needs a folder, but {path} is a file.")
    elif detected == "index_csv":
        if not (path / "index.csv").is_file():
            raise DataNotFoundError(f"{path} has no index.csv (needed for kind 'index_csv').")
        dataset = IndexCsvImages(path, transform)
    elif detected == "imagefolder":
        dataset = ImageFolderImages(path, transform)
    else:
        dataset = FlatImages(path, transform)
    if len(dataset) == 0:
        raise DataNotFoundError(f"no images found in {path} (kind {detected!r}).")
    return evenly_spaced_subset(dataset, limit)


def align_labels(dataset: ImageDataset, class_names: Sequence[str]) -> np.ndarray | None:
    """Map the data set's labels to the classifier's class indices.

    Returns a lookup array ``new = table[old]`` (or ``None`` when labels are already class indices).
    Named classes are matched to ``class_names`` by name (case-insensitive); folders named by integers
    are taken as indices; otherwise the label space must have the classifier's size.

    Raises:
        InputError: the data set's classes cannot be matched to the classifier's.
    """
    names = dataset.classes
    num_classes = len(class_names)
    if names is None:
        labels = dataset.labels[dataset.labels >= 0]
        if labels.size and int(labels.max()) >= num_classes:
            raise InputError(
                f"labels of {dataset.source} go up to {int(labels.max())} but the classifier has {num_classes} classes; "
                "train with labels from the classifier instead (--labels blackbox)."
            )
        return None
    lookup = {n.lower(): i for i, n in reversed(list(enumerate(class_names)))}
    if all(n.lower() in lookup for n in names):
        table = np.asarray([lookup[n.lower()] for n in names], dtype=np.int64)
        return None if np.array_equal(table, np.arange(len(names))) else table
    if all(n.isdigit() for n in names):
        table = np.asarray([int(n) for n in names], dtype=np.int64)
        if table.max() >= num_classes:
            raise InputError(f"class folder {int(table.max())} of {dataset.source} is out of range for a classifier with {num_classes} classes.")
        return table
    if len(names) == num_classes:  # e.g. all 1000 ImageNet wnid folders: sorted order = class index order
        return None
    unknown = [n for n in names if n.lower() not in lookup][:5]
    raise InputError(
        f"cannot match the {len(names)} classes of {dataset.source} (e.g. {unknown}) to the classifier's {num_classes} "
        "classes: name the class folders like the classifier's classes (or by class index), or train with labels "
        "from the classifier (--labels blackbox)."
    )
