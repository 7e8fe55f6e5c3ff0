"""The paper's masking model: frozen encoder, class-selective feature filter, upsampler decoder.

Names are imported lazily (listing plugins does not pay for torchvision's feature extraction).

Example:
    >>> import torch
    >>> from blackbox_saliency.maskers import SaliencyMasker
    >>> masker = SaliencyMasker(10, encoder="resnet18", encoder_pretrained=False, preset="fast").eval()
    >>> masker.explain(torch.rand(1, 3, 64, 64), torch.tensor([2])).shape
    torch.Size([1, 1, 64, 64])
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FrozenEncoder": "encoders",
    "available_encoders": "encoders",
    "build_encoder": "encoders",
    "register_encoder": "encoders",
    "MaskerOutput": "model",
    "SaliencyMasker": "model",
    "MaskerConfig": "presets",
    "PRESETS": "presets",
    "resolve_config": "presets",
    "load_masker_checkpoint": "checkpoint",
    "build_trainable_masker": "architectures",
    "load_masker": "loading",
    "save_masker": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
