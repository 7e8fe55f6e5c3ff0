"""The evaluation harness: data sets, method building, the batched runner and the report writer.

Example:
    >>> from blackbox_saliency.evaluation import parse_methods
    >>> parse_methods("gradient,center")
    ['gradient', 'center']
"""

from .datasets import EvalBatch, EvalDataset, EvalSample, NpzDataset, PhotoFolder, collate, open_dataset
from .methods import BASELINE_METHODS, MASKER, build_method, build_methods, parse_methods, valid_methods
from .report import to_json, to_markdown, write_report
from .runner import EvaluationOptions, EvaluationResult, MethodRow, evaluate

__all__ = [
    "BASELINE_METHODS",
    "MASKER",
    "EvalBatch",
    "EvalDataset",
    "EvalSample",
    "EvaluationOptions",
    "EvaluationResult",
    "MethodRow",
    "NpzDataset",
    "PhotoFolder",
    "build_method",
    "build_methods",
    "collate",
    "evaluate",
    "open_dataset",
    "parse_methods",
    "to_json",
    "to_markdown",
    "valid_methods",
    "write_report",
]
