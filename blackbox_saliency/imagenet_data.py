"""Labels of the offline ImageNet samples in the shared data folder.

``root`` is the ``imagenet`` folder (holding ``val_dev/`` and ``sample/``);
by default ``<shared data>/imagenet`` (see :mod:`blackbox_saliency.data_paths`).
Class indices follow the standard ImageNet-1k order (0 = tench ... 999 = toilet tissue).

Example:
    >>> from blackbox_saliency.imagenet_data import read_val_dev
    >>> items = read_val_dev()          # doctest: +SKIP
    >>> len(items), items[0][1]         # doctest: +SKIP
    (200, 969)
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .data_paths import require
from .errors import DataNotFoundError, InputError

__all__ = ["imagenet_root", "read_val_dev", "read_sample_index"]


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


def _read_rows(csv_path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    if not csv_path.is_file():
        raise DataNotFoundError(f"{csv_path} does not exist; is the ImageNet data folder complete?")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{csv_path} lacks the column(s) {missing}; found {reader.fieldnames}")
        rows = list(reader)
    if not rows:
        raise InputError(f"{csv_path} holds no rows")
    return rows


def _class_index(row: dict[str, str], csv_path: Path, line: int) -> int:
    try:
        index = int(row["class_index"])
    except ValueError:
        raise InputError(f"{csv_path} line {line}: class_index {row['class_index']!r} is not an integer") from None
    if not 0 <= index < 1000:
        raise InputError(f"{csv_path} line {line}: class_index {index} is outside 0..999")
    return index


def read_val_dev(root: str | os.PathLike[str] | None = None) -> list[tuple[Path, int]]:
    """(image path, class index) for each of the val_dev images, sorted by file name.

    ``val_dev/boxes.csv`` has one row per bounding box; rows of one image share its label.
    """
    folder = imagenet_root(root) / "val_dev"
    csv_path = folder / "boxes.csv"
    labels: dict[str, int] = {}
    for line, row in enumerate(_read_rows(csv_path, ("file", "class_index")), start=2):
        index = _class_index(row, csv_path, line)
        previous = labels.setdefault(row["file"], index)
        if previous != index:
            raise InputError(f"{csv_path} line {line}: {row['file']} is labelled both {previous} and {index}")
    return [(folder / name, labels[name]) for name in sorted(labels)]


def read_sample_index(root: str | os.PathLike[str] | None = None) -> list[tuple[Path, int]]:
    """(image path, class index) for the one-image-per-class ``sample/`` folder, in ``index.csv`` order."""
    folder = imagenet_root(root) / "sample"
    csv_path = folder / "index.csv"
    rows = _read_rows(csv_path, ("file", "class_index"))
    return [(folder / row["file"], _class_index(row, csv_path, line)) for line, row in enumerate(rows, start=2)]
