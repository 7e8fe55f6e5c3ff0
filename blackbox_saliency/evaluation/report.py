"""Write an :class:`~blackbox_saliency.evaluation.runner.EvaluationResult` as Markdown and JSON (atomically).

The table's columns are the method's name and image count, the columns of every metric of the run (see
:class:`~blackbox_saliency.metrics.base.Column`), and the masker's seconds per image; the legend is the metrics'
sentences followed by the timing's.

Example:
    >>> from blackbox_saliency.metrics import default_metrics
    >>> [column.title for metric in default_metrics() for column in metric.columns][:3]
    ['saliency, source crop ↓', 'log area', 'log p']
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..atomic import atomic_write_text
from ..metrics.base import Column
from .runner import EvaluationResult, MethodRow

__all__ = ["report_columns", "report_paths", "to_markdown", "to_json", "write_report"]

LEADING_COLUMNS = (Column("method", "method", "{}"), Column("images", "images", "{}"))
TRAILING_COLUMNS = (Column("seconds_per_image", "s / image", "{:.4f}"),)
TIMING_LEGEND = "s / image: wall time of the masker alone (metrics excluded), averaged over the images."


def report_columns(result: EvaluationResult) -> list[Column]:
    """Every column of the Markdown table, in order: the method's, the metrics', the timing.

    Example:
        >>> from blackbox_saliency.metrics import PointingGame
        >>> result = EvaluationResult([], {}, [], {}, columns=PointingGame().columns)
        >>> [column.title for column in report_columns(result)]
        ['method', 'images', 'pointing game ↑', 's / image']
    """
    return [*LEADING_COLUMNS, *result.columns, *TRAILING_COLUMNS]


def _cell(value: object, fmt: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return " / ".join(f"{v:g}" for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return fmt.format(value)


def _cells(row: MethodRow, columns: list[Column]) -> list[str]:
    """One table row; a value over fewer images than the method's says over how many."""
    values = row.to_dict()
    cells = []
    for column in columns:
        cell = _cell(values.get(column.key), column.fmt)
        count = values.get(column.count_key) if column.count_key else None
        if values.get(column.key) is not None and isinstance(count, int) and count < row.images:
            cell += f" ({count} img)"
        cells.append(cell)
    return cells


def _facts(meta: dict[str, object]) -> list[tuple[str, object]]:
    """The run's settings as (name, value) lines of the report."""
    facts = [
        ("data", meta.get("data")),
        ("images evaluated", f"{meta.get('images')} of {meta.get('dataset_size')}"),
        ("black box", meta.get("classifier")),
        ("explained class", "ground-truth label" if meta.get("target") == "label" else "black box's top-1"),
    ]
    if meta.get("classifier_top1") is not None:
        facts.append(("black box top-1 on these images", f"{meta['classifier_top1']:.1%}"))
    protocol = meta.get("crop_from")
    if protocol:
        crop = (
            "source crop (the original photo's pixels)"
            if protocol == "source"
            else "view crop (the pixels the method saw)"
        )
        facts.append(("main crop protocol", crop))
    if meta.get("alpha_rule"):
        facts.append(("alpha tuning", meta["alpha_rule"]))
    for name, key in (("mask threshold for boxes", "threshold"), ("deletion/insertion steps", "deletion_steps")):
        if key in meta:
            facts.append((name, meta[key]))
    facts += [
        ("batch size", meta.get("batch_size")),
        ("device / torch / threads", f"{meta.get('device')} / {meta.get('torch')} / {meta.get('torch_threads')}"),
    ]
    for key in ("machine", "date", "wall_seconds", "options"):
        if meta.get(key) is not None:
            facts.append((key.replace("_", " "), meta[key]))
    return facts


def to_markdown(result: EvaluationResult, title: str = "Evaluation", command: str | None = None) -> str:
    """Markdown: title, settings, the table (one row per method), notes and a legend."""
    lines = [f"# {title}", ""]
    if command:
        lines += ["Regenerate with:", "", "```bash", command, "```", ""]
    lines += [f"- {key}: {value}" for key, value in _facts(result.meta)]
    columns = report_columns(result)
    lines += ["", "| " + " | ".join(c.title for c in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cells(row, columns)) + " |" for row in result.rows]
    if result.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in result.notes]
    lines += ["", "Methods:", ""] + [f"- `{row.method}`: `{row.description}`" for row in result.rows]
    lines += ["", " ".join([*result.legend, TIMING_LEGEND]), ""]
    return "\n".join(lines)


def to_json(result: EvaluationResult, command: str | None = None, per_image: bool = False) -> str:
    """JSON text with ``meta``, ``notes``, ``rows`` (and ``per_image`` values when asked, and the ``command`` when
    given)."""
    data = result.to_dict()
    if not per_image:
        data.pop("per_image", None)
    if command:
        data = {"command": command, **data}
    return json.dumps(data, indent=1, default=str, allow_nan=True) + "\n"


def write_report(
    result: EvaluationResult,
    stem: str | os.PathLike[str],
    title: str = "Evaluation",
    command: str | None = None,
    per_image: bool = False,
) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.json`` atomically (``per_image`` adds every image's values to the JSON);
    returns both paths."""
    md, js = report_paths(stem)
    atomic_write_text(to_markdown(result, title, command), md)
    atomic_write_text(to_json(result, command, per_image), js)
    return md, js


def report_paths(stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The Markdown and JSON files :func:`write_report` writes for ``stem`` (a ``.md`` / ``.json`` suffix is dropped
    first).

    Example:
        >>> [p.name for p in report_paths("reports/run.md")]
        ['run.md', 'run.json']
    """
    stem = Path(stem)
    if stem.suffix.lower() in (".md", ".json"):
        stem = stem.with_suffix("")
    return Path(f"{stem}.md"), Path(f"{stem}.json")
