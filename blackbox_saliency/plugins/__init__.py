"""The pluggy-based plugin system (hook specs and the manager)."""

from .hookspecs import ENTRY_POINT_GROUP, hookimpl
from .manager import (
    PluginProblem,
    PluginWarning,
    available,
    get_plugin_manager,
    load_classifier,
    load_evidence_remover,
    plugin_problems,
    registry,
    scan,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginProblem",
    "PluginWarning",
    "hookimpl",
    "available",
    "get_plugin_manager",
    "load_classifier",
    "load_evidence_remover",
    "plugin_problems",
    "registry",
    "scan",
]
