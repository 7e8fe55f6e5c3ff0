"""What the built-in backbone black boxes share: a final linear head and a table of feature nodes (internal helper).

:class:`~blackbox_saliency.classifiers.efficientnet_lite.EfficientNetLite0Classifier` and
:class:`~blackbox_saliency.classifiers.cifar_resnet.CifarResNetClassifier` declare their node table and
how to find their head; the masker's encoders (:mod:`blackbox_saliency.maskers.encoders`) read both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from torch import nn

from .frozen import FrozenBlackBox

__all__ = ["BackboneBlackBox"]


class BackboneBlackBox(FrozenBlackBox):
    """A :class:`~blackbox_saliency.classifiers.frozen.FrozenBlackBox` with a final linear :attr:`head` and
    :meth:`feature_nodes`."""

    #: stride -> (node name in ``self.network``, channels), for create_feature_extractor.
    FEATURE_NODES: ClassVar[dict[int, tuple[str, int]]] = {}
    #: ``head_of(network)`` returns the network's final ``nn.Linear`` (a staticmethod of the subclass).
    head_of: ClassVar[Callable[[nn.Module], nn.Linear]]

    @property
    def head(self) -> nn.Linear:
        """The network's final ``nn.Linear`` on the pooled coarsest features (e.g. to initialise a class embedding)."""
        return self.head_of(self.network)

    @classmethod
    def feature_nodes(cls) -> dict[int, tuple[str, int]]:
        """stride -> (node name in ``self.network``, channels), for create_feature_extractor."""
        return dict(cls.FEATURE_NODES)
