"""The pluggy-based plugin system (hook specs and the manager)."""

from .hookspecs import ENTRY_POINT_GROUP, hookimpl
from .manager import available, get_plugin_manager, load_classifier, load_evidence_remover, load_masker, registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "hookimpl",
    "available",
    "get_plugin_manager",
    "load_classifier",
    "load_evidence_remover",
    "load_masker",
    "registry",
]
