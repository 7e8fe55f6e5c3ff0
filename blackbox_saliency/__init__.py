"""blackbox-saliency: real-time saliency for any differentiable image classifier.

Example:
    >>> import blackbox_saliency as bs
    >>> sorted(bs.available())
    ['classifiers', 'evidence_removers', 'maskers']
"""

from __future__ import annotations

from ._version import __version__
from .errors import BlackBoxSaliencyError, CheckpointError, DataNotFoundError, ImageReadError, InputError, PluginError
from .evidence import phi
from .interfaces import BlackBoxClassifier, EvidenceRemover, Masker
from .objective import ObjectiveTerms, SaliencyObjective
from . import metrics
from .plugins import ENTRY_POINT_GROUP, available, hookimpl, load_classifier, load_evidence_remover, load_masker

__all__ = [
    "__version__",
    "BlackBoxClassifier",
    "BlackBoxSaliencyError",
    "CheckpointError",
    "DataNotFoundError",
    "ENTRY_POINT_GROUP",
    "EvidenceRemover",
    "ImageReadError",
    "InputError",
    "Masker",
    "ObjectiveTerms",
    "PluginError",
    "SaliencyObjective",
    "available",
    "hookimpl",
    "load_classifier",
    "load_evidence_remover",
    "load_masker",
    "metrics",
    "phi",
]
