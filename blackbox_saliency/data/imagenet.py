"""Labels of the offline ImageNet samples in the shared data folder (``val_dev/`` and ``sample/``).

``root`` is the ``imagenet`` folder; by default ``<shared data>/imagenet`` (see :mod:`blackbox_saliency.data.paths`).
Class indices follow the standard ImageNet-1k order (0 = tench ... 999 = toilet tissue).

Example:
    >>> from blackbox_saliency.data.imagenet import read_val_dev
    >>> items = read_val_dev()          # doctest: +SKIP
    >>> len(items), items[0][1]         # doctest: +SKIP
    (200, 969)
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataNotFoundError, InputError
from .boxes_csv import load_val_boxes
from .index_csv import read_index_csv
from .paths import require

__all__ = ["NUM_CLASSES", "imagenet_root", "read_sample_index", "read_val_dev"]

NUM_CLASSES = 1000


def imagenet_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The ImageNet sample folder: ``root`` when given (or its ``imagenet`` subfolder), else the shared one."""
    if root is None:
        return require("imagenet")
    path = Path(root)
    if not (path / "val_dev").exists() and not (path / "sample").exists() and (path / "imagenet").is_dir():
        path = path / "imagenet"
    if not path.is_dir():
        raise DataNotFoundError(f"ImageNet data folder {path} does not exist")
    return path


def read_val_dev(root: str | os.PathLike[str] | None = None) -> list[tuple[Path, int]]:
    """(image path, class index) for each of the val_dev images, sorted by file name.

    ``val_dev/boxes.csv`` has one row per bounding box; rows of one image share its label.
    """
    folder = imagenet_root(root) / "val_dev"
    truth = load_val_boxes(folder / "boxes.csv", num_classes=NUM_CLASSES)
    if not truth:
        raise InputError(f"{folder / 'boxes.csv'} holds no rows")
    return [(folder / name, truth[name].class_index) for name in sorted(truth)]


def read_sample_index(root: str | os.PathLike[str] | None = None) -> list[tuple[Path, int]]:
    """(image path, class index) for the one-image-per-class ``sample/`` folder, in ``index.csv`` order."""
    folder = imagenet_root(root) / "sample"
    rows = read_index_csv(folder / "index.csv", require_labels=True, num_classes=NUM_CLASSES)
    if not rows.files:
        raise InputError(f"{folder / 'index.csv'} holds no rows")
    return [(folder / name, label) for name, label in zip(rows.files, rows.labels)]
