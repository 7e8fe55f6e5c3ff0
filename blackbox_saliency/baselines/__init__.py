"""Baseline maskers to compare a trained masker against.

``gradient`` (vanilla gradient; Captum when installed), ``gradcam``
(pytorch-grad-cam on a named layer), ``cam`` (the class activation map of a
classifier that declares ``cam_layers``: one pass, no gradients), ``iterative`` (per-image optimisation of
the paper's objective), ``center`` (central box, half the area), ``full`` (the
whole image) and ``gt`` (ground-truth boxes). All are registered as maskers,
so ``load_masker("gradcam", classifier=net)`` builds one. The Captum and
pytorch-grad-cam backends come with ``pip install 'blackbox-saliency[baselines]'``.
"""

from .base import ClassifierMasker, normalise_per_image
from .boxes import CenterBoxMasker, FullMasker, GroundTruthMasker, boxes_to_masks
from .cam import CamMasker
from .gradcam import GradCamMasker
from .gradient import GradientMasker
from .iterative import IterativeMasker, IterativeResult

__all__ = [
    "CamMasker",
    "CenterBoxMasker",
    "ClassifierMasker",
    "FullMasker",
    "GradCamMasker",
    "GradientMasker",
    "GroundTruthMasker",
    "IterativeMasker",
    "IterativeResult",
    "boxes_to_masks",
    "normalise_per_image",
]
