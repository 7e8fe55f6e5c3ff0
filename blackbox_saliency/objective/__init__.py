"""The saliency objective of Dabkowski & Gal (2017), as a list of named terms (:mod:`.terms`)."""

from ..fast.reference import total_variation
from .objective import VARIANTS, ObjectiveSettings, SaliencyObjective
from .terms import TERMS, ObjectiveTerms, Term, TermInputs, register_term, term_names

__all__ = [
    "ObjectiveSettings",
    "ObjectiveTerms",
    "SaliencyObjective",
    "TERMS",
    "Term",
    "TermInputs",
    "VARIANTS",
    "register_term",
    "term_names",
    "total_variation",
]
