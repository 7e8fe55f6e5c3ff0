"""``train_masker``: training a masker from Python in one call, for a registered black box or your own model.

Example:
    >>> import blackbox_saliency as bs, torchvision  # doctest: +SKIP
    >>> weights = torchvision.models.ResNet50_Weights.DEFAULT  # doctest: +SKIP
    >>> box = bs.wrap(torchvision.models.resnet50(weights=weights), weights)  # doctest: +SKIP
    >>> result = bs.train_masker(box, "my_photos/", steps=2000, out="runs/resnet50")  # doctest: +SKIP
    >>> bs.explain("cat.jpg", masker=result.masker, classifier=box).figure()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from ..errors import InputError
from .config import TrainConfig
from .trainer import TrainResult, train

__all__ = ["train_masker"]


def train_masker(
    classifier: str | nn.Module,
    data: str | os.PathLike[str] | list[str],
    *,
    steps: int = 5000,
    out: str | os.PathLike[str] = "runs/masker",
    **options: Any,
) -> TrainResult:
    """Train a masker that explains ``classifier`` on the photos in ``data``; returns the :class:`TrainResult`.

    Args:
        classifier: a registered name (``"efficientnet_lite0"``, ``"torchvision:resnet50@DEFAULT"``) or a black box
            object (e.g. from :func:`blackbox_saliency.wrap`).
        data: a folder of photos (flat, class sub-folders or ``index.csv``), an ``.npz`` file, or a list of these.
        steps: optimisation steps.
        out: the run folder (``out/masker.pt`` is the trained masker).
        options: any other :class:`TrainConfig` field (``preset="fast"``, ``batch_size=16``, ``val_data=...``,
            ``overwrite=True``...).

    Raises:
        InputError: an unknown option, or any invalid setting (as :class:`TrainConfig` reports it).
    """
    given = None
    if isinstance(classifier, nn.Module):
        given, classifier = classifier, getattr(classifier, "registered_name", None) or type(classifier).__name__
    if not isinstance(classifier, str):
        raise InputError(f"`classifier` must be a registered name or an nn.Module black box, got "
                         f"{type(classifier).__name__}.")
    paths = [str(p) for p in data] if isinstance(data, (list, tuple)) else str(data)
    # from_dict names unknown options
    config = TrainConfig.from_dict({**options, "classifier": classifier, "data": paths, "out": str(out),
                                    "steps": steps})
    return train(config, classifier=given)
