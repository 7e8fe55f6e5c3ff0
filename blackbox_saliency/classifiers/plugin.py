"""Registers the built-in black boxes through the plugin hooks.

Factories import their module lazily so that listing plugins stays fast.
"""

from __future__ import annotations

from ..plugins.hookspecs import hookimpl


def efficientnet_lite0(**kwargs):
    from .efficientnet_lite import EfficientNetLite0Classifier

    return EfficientNetLite0Classifier(**kwargs)


def cifar10_resnet20(**kwargs):
    from .cifar_resnet import CifarResNetClassifier

    return CifarResNetClassifier(depth=20, **kwargs)


def cifar10_resnet56(**kwargs):
    from .cifar_resnet import CifarResNetClassifier

    return CifarResNetClassifier(depth=56, **kwargs)


def _torchvision_factory(model_name: str):
    def build(**kwargs):
        from .torchvision_models import TorchvisionClassifier

        return TorchvisionClassifier(model_name, **kwargs)

    build.__name__ = f"torchvision_{model_name}"
    return build


def _torchvision_names() -> list[str]:
    import torchvision.models

    return list(torchvision.models.list_models(module=torchvision.models))


@hookimpl
def blackbox_saliency_classifiers():
    found = {
        "efficientnet_lite0": efficientnet_lite0,
        "cifar10_resnet20": cifar10_resnet20,
        "cifar10_resnet56": cifar10_resnet56,
    }
    found.update({f"torchvision:{name}": _torchvision_factory(name) for name in _torchvision_names()})
    return found
