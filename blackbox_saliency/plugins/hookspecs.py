"""Hook specifications of the ``blackbox_saliency`` plugin system.

A plugin is any module or object with functions decorated by
:data:`blackbox_saliency.hookimpl`. Each hook returns a ``dict`` mapping a
name to a factory (any callable accepting keyword arguments). The four kinds:
classifiers (black boxes), evidence removers, maskers, and encoders (the frozen
backbones a :class:`~blackbox_saliency.maskers.SaliencyMasker` reads features from).

Example plugin module (registered through the entry-point group
``blackbox_saliency`` in the plugin package's ``pyproject.toml``)::

    from blackbox_saliency import hookimpl

    @hookimpl
    def blackbox_saliency_classifiers():
        return {"my_net": build_my_net}
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "blackbox_saliency"
ENTRY_POINT_GROUP = "blackbox_saliency"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Factory = Callable[..., object]


@hookspec
def blackbox_saliency_classifiers() -> dict[str, Factory]:
    """Return ``{name: factory}``; each factory builds a BlackBoxClassifier."""


@hookspec
def blackbox_saliency_encoders() -> dict[str, Factory]:
    """Return ``{name: builder}``; ``builder(pretrained=bool)`` returns an
    :class:`~blackbox_saliency.maskers.encoders.EncoderSpec` (network, feature nodes finest -> coarsest,
    normalisation); :func:`~blackbox_saliency.maskers.encoders.build_encoder` freezes it.

    Example::

        @hookimpl
        def blackbox_saliency_encoders():
            return {"my_backbone": lambda pretrained=True: EncoderSpec(net, ["layer1", "layer2"], mean, std)}
    """


@hookspec
def blackbox_saliency_evidence_removers() -> dict[str, Factory]:
    """Return ``{name: factory}``; each factory builds an EvidenceRemover."""


@hookspec
def blackbox_saliency_maskers() -> dict[str, Factory]:
    """Return ``{name: factory}``; each factory builds a Masker."""


@hookspec
def blackbox_saliency_masker_architectures() -> dict[str, Factory]:
    """Return ``{name: factory}``; each factory (usually the class itself) builds an untrained
    :class:`~blackbox_saliency.interfaces.TrainableMasker` whose ``architecture`` is ``name`` from the
    keyword arguments in its ``config``. ``blackbox-saliency train --masker NAME`` trains it and
    :func:`~blackbox_saliency.load_masker` rebuilds its checkpoints.

    Example::

        @hookimpl
        def blackbox_saliency_masker_architectures():
            return {"my_masker": MyMasker}  # class MyMasker(TrainableMasker): architecture = "my_masker"
    """
