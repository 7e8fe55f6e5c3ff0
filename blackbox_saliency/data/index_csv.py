"""``index.csv``: a flat folder's list of photos with their class index (columns ``file``, ``class_index``).

Example:
    >>> import pathlib, tempfile
    >>> from blackbox_saliency.data.index_csv import read_index_csv
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "index.csv"
    >>> _ = path.write_text("file,class_index\\nb.jpg,7\\na.jpg,\\n")
    >>> read_index_csv(path)
    IndexRows(files=['b.jpg', 'a.jpg'], labels=[7, -1])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from ._csv import integer, read_rows

__all__ = ["IndexRows", "read_index_csv"]


class IndexRows(NamedTuple):
    """File names (relative to the CSV's folder) and their labels (-1 = none), in the CSV's order."""

    files: list[str]
    labels: list[int]


def read_index_csv(
    path: str | os.PathLike[str], require_labels: bool = False, num_classes: int | None = None
) -> IndexRows:
    """Read an ``index.csv`` (columns ``file`` and, optionally, ``class_index``).

    Args:
        path: the CSV.
        require_labels: the column ``class_index`` must be there and every row must have an integer;
            otherwise a missing column or an empty cell is the label -1.
        num_classes: when given, labels must lie in ``0 .. num_classes - 1``.

    Raises:
        DataNotFoundError: the file does not exist.
        InputError: a needed column is missing, or a label is not an integer (or out of range).
    """
    path = Path(path)
    needed = ("file", "class_index") if require_labels else ("file",)
    rows = read_rows(
        path,
        needed,
        hint="an index.csv needs a header with the column `file` (and `class_index` for labels)",
        missing=f"{path} does not exist; an index.csv lists a folder's photos (columns file, class_index).",
    )
    files, labels = [], []
    for line, row in rows:
        files.append(row["file"])
        labelled = require_labels or (row.get("class_index") or "").strip()
        labels.append(integer(row, "class_index", path, line, num_classes) if labelled else -1)
    return IndexRows(files, labels)
