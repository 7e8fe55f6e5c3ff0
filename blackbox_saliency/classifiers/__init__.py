"""Built-in black-box classifiers (EfficientNet-Lite0, CIFAR ResNets, any torchvision model).

The classes are imported lazily so that ``import blackbox_saliency.classifiers``
stays cheap:

    >>> from blackbox_saliency.classifiers import CifarResNetClassifier
    >>> CifarResNetClassifier.__name__
    'CifarResNetClassifier'
"""

from __future__ import annotations

import importlib

__all__ = ["EfficientNetLite0Classifier", "CifarResNetClassifier", "TorchvisionClassifier", "imagenet_class_names"]

_LAZY = {
    "EfficientNetLite0Classifier": "efficientnet_lite",
    "CifarResNetClassifier": "cifar_resnet",
    "TorchvisionClassifier": "torchvision_models",
    "imagenet_class_names": "names",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
