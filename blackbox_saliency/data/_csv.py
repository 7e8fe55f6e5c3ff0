"""The CSV plumbing of the data readers: rows with their line numbers, integer fields with their messages."""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import DataNotFoundError, InputError


def read_rows(path: Path, needed: tuple[str, ...], hint: str, missing: str) -> list[tuple[int, dict[str, str]]]:
    """``(line number, row)`` of the CSV at ``path`` (the header is line 1), after checking the ``needed`` columns.

    ``missing`` is the message when the file does not exist; ``hint`` ends the message on missing columns.
    """
    if not path.is_file():
        raise DataNotFoundError(missing)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        absent = [c for c in needed if c not in (reader.fieldnames or [])]
        if absent:
            raise InputError(f"{path} lacks the column(s) {absent}; found {reader.fieldnames}; {hint}.")
        return list(enumerate(reader, start=2))


def integer(row: dict[str, str], field: str, path: Path, line: int, num_classes: int | None = None) -> int:
    """``row[field]`` as an int; with ``num_classes``, checked to lie in ``0 .. num_classes - 1``."""
    value = (row.get(field) or "").strip()
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"{path} line {line}: {field} {value!r} is not an integer.") from None
    if num_classes is not None and not 0 <= number < num_classes:
        raise InputError(f"{path} line {line}: {field} {number} is outside 0..{num_classes - 1}.")
    return number
