"""Dispatch of the fused mask operation (extension when built, torch reference otherwise)."""

from __future__ import annotations

from .reference import mask_blend_tv as _reference_mask_blend_tv

mask_blend_tv = _reference_mask_blend_tv


def active_path() -> str:
    """Name the implementation in use: ``"torch-reference"`` until the compiled extension is available."""
    return "torch-reference"
