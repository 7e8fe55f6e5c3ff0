"""Photo folders: which files are photos, flat and ImageFolder listings, and :func:`detect_kind`, the one path dispatch.

Layouts (``kind``):

* ``npz``: an ``.npz`` file, or a folder holding ``.npz`` files (see :mod:`blackbox_saliency.data.npz`);
* ``boxes_csv``: a folder with ``boxes.csv`` (ImageNet boxes; only reported when asked, ``boxes=True``);
* ``index_csv``: a flat folder of photos with ``index.csv`` (see :mod:`blackbox_saliency.data.index_csv`);
* ``imagefolder``: torchvision ImageFolder layout, one sub-folder of photos per class;
* ``flat``: a folder of photos without labels.

Photos are files with a suffix of :data:`blackbox_saliency.io.IMAGE_SUFFIXES` (hidden files excluded).

Example:
    >>> import pathlib, tempfile
    >>> from PIL import Image
    >>> from blackbox_saliency.data.folders import detect_kind, list_flat
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (4, 4)).save(folder / "a.tif")
    >>> detect_kind(folder), [p.name for p in list_flat(folder)]
    ('flat', ['a.tif'])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from ..errors import DataNotFoundError, InputError
from ..io import IMAGE_SUFFIXES

__all__ = ["KINDS", "ImageFolderListing", "detect_kind", "is_image", "list_flat", "list_imagefolder"]

KINDS = ("npz", "boxes_csv", "index_csv", "imagefolder", "flat")


def is_image(path: Path) -> bool:
    """True for a file (not hidden) whose suffix is one of :data:`~blackbox_saliency.io.IMAGE_SUFFIXES`."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_flat(folder: str | os.PathLike[str]) -> list[Path]:
    """The photos directly inside ``folder``, sorted by name."""
    return sorted(f for f in Path(folder).iterdir() if is_image(f))


class ImageFolderListing(NamedTuple):
    """Photos of an ImageFolder tree, their labels (index into ``classes``) and the class names (sorted, empty ones
    dropped)."""

    files: list[Path]
    labels: list[int]
    classes: list[str]


def list_imagefolder(folder: str | os.PathLike[str]) -> ImageFolderListing:
    """``root/<class>/**/<photo>``: labels follow the sorted names of the class folders that hold photos."""
    files: list[Path] = []
    labels: list[int] = []
    classes: list[str] = []
    for sub in _class_folders(Path(folder)):
        found = sorted(f for f in sub.rglob("*") if is_image(f))
        if found:
            classes.append(sub.name)
            files += found
            labels += [len(classes) - 1] * len(found)
    return ImageFolderListing(files, labels, classes)


def detect_kind(path: str | os.PathLike[str], boxes: bool = False) -> str:
    """Return the layout of ``path``: ``npz``, ``index_csv``, ``imagefolder`` or ``flat`` (``boxes_csv`` too with
    ``boxes``).

    A folder's layout is the first that applies: ``boxes.csv`` (only with ``boxes=True``), ``index.csv``,
    ``.npz`` files, class sub-folders holding photos, photos.

    Raises:
        DataNotFoundError: ``path`` does not exist or holds nothing of the above.
        InputError: ``path`` is a file but not an ``.npz`` archive.
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"data path {path} does not exist; pass an .npz file or a folder of images.")
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return "npz"
        raise InputError(f"data file {path} is not an .npz archive; pass an .npz file or a folder of images.")
    if boxes and (path / "boxes.csv").is_file():
        return "boxes_csv"
    if (path / "index.csv").is_file():
        return "index_csv"
    if any(p.is_file() for p in path.glob("*.npz")):
        return "npz"
    if any(any(is_image(f) for f in d.rglob("*")) for d in _class_folders(path)):
        return "imagefolder"
    if any(is_image(f) for f in path.iterdir()):
        return "flat"
    raise DataNotFoundError(
        f"no images found in {path}: it holds no photo ({', '.join(IMAGE_SUFFIXES)}), no class sub-folders of photos, "
        f"no .npz file and no index.csv{' or boxes.csv' if boxes else ''}."
    )
