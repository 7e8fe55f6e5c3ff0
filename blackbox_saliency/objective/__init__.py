"""The saliency objective of Dabkowski & Gal (2017)."""

from ..fast.reference import total_variation
from .objective import VARIANTS, ObjectiveTerms, SaliencyObjective

__all__ = ["ObjectiveTerms", "SaliencyObjective", "VARIANTS", "total_variation"]
