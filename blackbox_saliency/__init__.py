"""blackbox-saliency: real-time saliency for any differentiable image classifier.

The public names below are imported on first use (PEP 562), so that ``import blackbox_saliency``
and the command line's ``--help`` do not pay for torch and torchvision until something needs them.

Example:
    >>> import blackbox_saliency as bs
    >>> "efficientnet_lite0" in bs.available()["classifiers"]
    True
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .errors import (
    BlackBoxSaliencyError,
    CheckpointError,
    DataNotFoundError,
    ImageReadError,
    InputError,
    OutOfSpaceError,
    PluginError,
)

# public name -> module that defines it (relative to this package)
_LAZY = {
    "phi": ".evidence",
    "BlackBoxClassifier": ".interfaces",
    "EvidenceRemover": ".interfaces",
    "Masker": ".interfaces",
    "TrainableMasker": ".interfaces",
    "BoxAwareMasker": ".interfaces",
    "skip_input_checks": ".input_checks",
    "ObjectiveTerms": ".objective",
    "SaliencyObjective": ".objective",
    "metrics": ".metrics",
    "ExplainResult": ".explain_result",
    "explain": ".explainer",
    "saliency_metric": ".metrics",
    "overlay": ".visualize",
    "wrap": ".classifiers.wrap",
    "train_masker": ".training",
    "ENTRY_POINT_GROUP": ".plugins",
    "PluginWarning": ".plugins",
    "available": ".plugins",
    "hookimpl": ".plugins",
    "load_classifier": ".plugins",
    "load_evidence_remover": ".plugins",
    "load_masker": ".maskers.loading",
    "plugin_problems": ".plugins",
}

__all__ = [
    "__version__",
    "BlackBoxClassifier",
    "BlackBoxSaliencyError",
    "BoxAwareMasker",
    "CheckpointError",
    "DataNotFoundError",
    "ENTRY_POINT_GROUP",
    "EvidenceRemover",
    "ExplainResult",
    "ImageReadError",
    "InputError",
    "Masker",
    "ObjectiveTerms",
    "OutOfSpaceError",
    "PluginError",
    "PluginWarning",
    "SaliencyObjective",
    "train_masker",
    "wrap",
    "TrainableMasker",
    "available",
    "explain",
    "hookimpl",
    "load_classifier",
    "load_evidence_remover",
    "load_masker",
    "metrics",
    "overlay",
    "phi",
    "plugin_problems",
    "saliency_metric",
    "skip_input_checks",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        value = module if name == "metrics" else getattr(module, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
