"""blackbox-saliency: real-time saliency for any differentiable image classifier.

Example:
    >>> import blackbox_saliency as bs
    >>> sorted(bs.available())
    ['classifiers', 'evidence_removers', 'maskers']
"""

from __future__ import annotations

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
from .evidence import phi
from .interfaces import BlackBoxClassifier, EvidenceRemover, Masker
from .objective import ObjectiveTerms, SaliencyObjective
from . import metrics
from .explain import ExplainResult, explain
from .metrics import saliency_metric
from .visualize import overlay
from .plugins import (
    ENTRY_POINT_GROUP,
    PluginWarning,
    available,
    hookimpl,
    load_classifier,
    load_evidence_remover,
    load_masker,
    plugin_problems,
)

__all__ = [
    "__version__",
    "BlackBoxClassifier",
    "BlackBoxSaliencyError",
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
]
