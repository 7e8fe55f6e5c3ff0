"""``boxes.csv``: the official ImageNet localisation ground truth (:func:`load_val_boxes`).

One row per box, columns ``file,wnid,class_index,width,height,x0,y0,x1,y1`` (the ILSVRC format of
``imagenet/val_dev``). Boxes come out in the library's convention (see :mod:`blackbox_saliency.metrics.boxes`).

Example:
    >>> import pathlib, tempfile
    >>> from blackbox_saliency.data.boxes_csv import load_val_boxes
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "boxes.csv"
    >>> _ = path.write_text("file,wnid,class_index,width,height,x0,y0,x1,y1\\na.JPEG,n0,3,10,8,2,2,4,4\\n")
    >>> load_val_boxes(path)["a.JPEG"].boxes.tolist()
    [[2.0, 2.0, 5.0, 5.0]]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError
from ._csv import integer, read_rows
from .paths import require

__all__ = ["GroundTruth", "VAL_BOXES", "load_val_boxes"]

VAL_BOXES = "imagenet/val_dev/boxes.csv"  # relative to the shared data folder
_COLUMNS = ("file", "class_index", "width", "height", "x0", "y0", "x1", "y1")


@dataclass(frozen=True)
class GroundTruth:
    """The official localisation ground truth of one validation image.

    Attributes:
        class_index: ImageNet-1k class index (0..999, sorted-wnid order).
        width, height: the image's own size in pixels.
        boxes: (K, 4) float boxes in this library's exclusive convention (image pixels).
    """

    class_index: int
    width: int
    height: int
    boxes: torch.Tensor


def load_val_boxes(
    path: str | os.PathLike[str] | None = None, num_classes: int | None = None
) -> dict[str, GroundTruth]:
    """Read ``boxes.csv`` (columns ``file,wnid,class_index,width,height,x0,y0,x1,y1``) into
    file name -> :class:`GroundTruth`.

    The official ILSVRC coordinates are integer pixel indices with *inclusive* corners, so a
    row ``x0, y0, x1, y1`` becomes the box ``(x0, y0, x1 + 1, y1 + 1)`` (clipped to the image).

    Args:
        path: the CSV; default ``imagenet/val_dev/boxes.csv`` in the shared data folder.
        num_classes: when given, class indices must lie in ``0 .. num_classes - 1``.

    Raises:
        DataNotFoundError: the file does not exist.
        InputError: a column is missing, a field is not an integer, a box is inverted, or the rows of
            one image disagree on its class or size.

    Example:
        >>> gt = load_val_boxes()  # doctest: +SKIP
        >>> gt["ILSVRC2012_val_00000801.JPEG"].boxes.tolist()  # doctest: +SKIP
        [[106.0, 0.0, 329.0, 354.0]]
    """
    csv_path = require(VAL_BOXES) if path is None else Path(path)
    rows = read_rows(
        csv_path,
        _COLUMNS,
        hint=f"expected columns {list(_COLUMNS)}",
        missing=f"box file {csv_path} does not exist; pass the path of imagenet/val_dev/boxes.csv.",
    )
    grouped: dict[str, tuple[int, int, int, list[list[float]]]] = {}
    for line, row in rows:
        cls = integer(row, "class_index", csv_path, line, num_classes)
        width, height, x0, y0, x1, y1 = (integer(row, k, csv_path, line) for k in _COLUMNS[2:])
        if x1 < x0 or y1 < y0:
            raise InputError(f"{csv_path} line {line}: box ({x0}, {y0}, {x1}, {y1}) has x1 < x0 or y1 < y0.")
        entry = grouped.setdefault(row["file"], (cls, width, height, []))
        if entry[0] != cls:
            raise InputError(f"{csv_path} line {line}: {row['file']} is labelled both {entry[0]} and {cls}.")
        if entry[1:3] != (width, height):
            raise InputError(
                f"{csv_path} line {line}: {row['file']} has rows of different sizes "
                f"({entry[1]}x{entry[2]} and {width}x{height})."
            )
        entry[3].append([float(x0), float(y0), float(min(x1 + 1, width)), float(min(y1 + 1, height))])
    return {
        name: GroundTruth(cls, width, height, torch.tensor(boxes, dtype=torch.float32))
        for name, (cls, width, height, boxes) in grouped.items()
    }
