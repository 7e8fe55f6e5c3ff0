"""Write an :class:`~blackbox_saliency.evaluation.runner.EvaluationResult` as Markdown and JSON (atomically).

Example:
    >>> from blackbox_saliency.evaluation.report import COLUMNS
    >>> [c[0] for c in COLUMNS][:3]
    ['method', 'images', 'source_saliency']
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..atomic import atomic_write_text
from .runner import EvaluationResult

__all__ = ["COLUMNS", "report_paths", "to_markdown", "to_json", "write_report"]

# (field of MethodRow, header, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("method", "method", "{}"),
    ("images", "images", "{}"),
    ("source_saliency", "saliency, source crop ↓", "{:.3f}"),
    ("source_log_area", "log area", "{:.3f}"),
    ("source_log_prob", "log p", "{:.3f}"),
    ("view_saliency", "saliency, view crop ↓", "{:.3f}"),
    ("view_log_area", "log area", "{:.3f}"),
    ("view_log_prob", "log p", "{:.3f}"),
    ("loc_error", "loc. error, mask > threshold ↓", "{:.1%}"),
    ("loc_error_paper", "loc. error, alpha * mean ↓", "{:.1%}"),
    ("paper_alphas", "alpha per fold", "{}"),
    ("loc_error_casm", "loc. error, CASM ↓", "{:.1%}"),
    ("pointing", "pointing game ↑", "{:.1%}"),
    ("deletion_auc", "deletion AUC ↓", "{:.3f}"),
    ("insertion_auc", "insertion AUC ↑", "{:.3f}"),
    ("seconds_per_image", "s / image", "{:.4f}"),
)

LEGEND = (
    "Saliency metric (Dabkowski & Gal 2017, sec. 4.2): `log(max(a, 0.05)) - log p`, with `a` the area fraction of the "
    "tightest box around the mask above the threshold and `p` the black box's probability of the class on that box, "
    "cropped and resized to its input size; it equals *mean log area* minus *mean log p* (lower is better). "
    "*Source crop*: the box, found on the view's mask, is mapped to the original photo and cut out of its own pixels "
    "(the area is a fraction of the photo); *view crop*: the box is cut out of the view the method saw. "
    "Localisation error: share of images whose box has IoU < 0.5 with every ground-truth box; the box is drawn around "
    "the mask above the fixed threshold, around the pixels above `alpha * mean(mask)` (Fong & Vedaldi 2017, Dabkowski "
    "& Gal 2017; `alpha` from 0..10 step 0.5, chosen per method on the other fold of a two-fold split, so no image is "
    "scored with an alpha tuned on it), or around the largest connected component above the mean (CASM, Zolna et al. 2020). "
    "Pointing game: share of "
    "images whose mask maximum lies within 15 px of a ground-truth box (ties: first pixel in row order, so constant "
    "masks point at the top-left corner). Deletion / insertion AUC: area under the class probability while pixels "
    "are blurred away / revealed in decreasing mask order (Petsiuk et al. 2018). s / image: wall time of the masker "
    "alone (metrics excluded), averaged over the images."
)


_INDEX = {key: i for i, (key, _, _) in enumerate(COLUMNS)}


def _cell(value: object, fmt: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return " / ".join(f"{v:g}" for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return fmt.format(value)


def to_markdown(result: EvaluationResult, title: str = "Evaluation", command: str | None = None) -> str:
    """Markdown: title, settings, the table (one row per method), notes and a legend."""
    meta = result.meta
    lines = [f"# {title}", ""]
    if command:
        lines += ["Regenerate with:", "", "```bash", command, "```", ""]
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
        facts.append(("main crop protocol", "source crop (the original photo's pixels)" if protocol == "source" else "view crop (the pixels the method saw)"))
    if meta.get("alpha_rule"):
        facts.append(("alpha tuning", meta["alpha_rule"]))
    facts += [
        ("mask threshold for boxes", meta.get("threshold")),
        ("deletion/insertion steps", meta.get("deletion_steps")),
        ("batch size", meta.get("batch_size")),
        ("device / torch / threads", f"{meta.get('device')} / {meta.get('torch')} / {meta.get('torch_threads')}"),
    ]
    for key in ("machine", "date", "wall_seconds", "options"):
        if meta.get(key) is not None:
            facts.append((key.replace("_", " "), meta[key]))
    lines += [f"- {key}: {value}" for key, value in facts]
    lines += ["", "| " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in result.rows:
        values = vars(row)
        cells = [_cell(values[key], fmt) for key, _, fmt in COLUMNS]
        if row.deletion_auc is not None and row.deletion_images < row.images:
            for key in ("deletion_auc", "insertion_auc"):
                cells[_INDEX[key]] += f" ({row.deletion_images} img)"
        lines.append("| " + " | ".join(cells) + " |")
    if result.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in result.notes]
    lines += ["", "Methods:", ""] + [f"- `{row.method}`: `{row.description}`" for row in result.rows]
    lines += ["", LEGEND, ""]
    return "\n".join(lines)


def to_json(result: EvaluationResult, command: str | None = None, per_image: bool = False) -> str:
    """JSON text with ``meta``, ``notes``, ``rows`` (and ``per_image`` values when asked, and the ``command`` when given)."""
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
    """Write ``<stem>.md`` and ``<stem>.json`` atomically (``per_image`` adds every image's values to the JSON); returns both paths."""
    md, js = report_paths(stem)
    atomic_write_text(to_markdown(result, title, command), md)
    atomic_write_text(to_json(result, command, per_image), js)
    return md, js


def report_paths(stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The Markdown and JSON files :func:`write_report` writes for ``stem`` (a ``.md`` / ``.json`` suffix is dropped first).

    Example:
        >>> [p.name for p in report_paths("reports/run.md")]
        ['run.md', 'run.json']
    """
    stem = Path(stem)
    if stem.suffix.lower() in (".md", ".json"):
        stem = stem.with_suffix("")
    return Path(f"{stem}.md"), Path(f"{stem}.json")
