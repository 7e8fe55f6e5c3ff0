"""Where the classes a masker learns to explain come from: the data set's labels, mapped to the classifier's class
indices (:func:`align_labels`), or the black box's own top-1 (:class:`Labels`).

Example:
    >>> import numpy as np
    >>> from blackbox_saliency.training.labels import align_labels
    >>> class Photos:  # what align_labels reads of an ImageDataset
    ...     classes, labels, source = ["dog", "cat"], np.array([0, 1]), "photos/"
    >>> align_labels(Photos, ["cat", "dog", "bird"]).tolist()  # the folder's "dog" (0) is class 1
    [1, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..interfaces import BlackBoxClassifier
from .data import ImageDataset

__all__ = ["Labels", "align_labels"]


@dataclass
class Labels:
    """Where the classes to explain come from: the data sets' labels (as class indices) or the black box's top-1."""

    classifier: BlackBoxClassifier
    from_blackbox: bool
    train_table: torch.Tensor | None  # data-set label -> class index (None: the labels are class indices)
    val_from_dataset: bool  # validation explains the data set's labels (else the black box's top-1)

    def blackbox(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.classifier(images).argmax(dim=1)

    def train(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.from_blackbox:
            return self.blackbox(images)
        return labels if self.train_table is None else self.train_table[labels]

    @property
    def val_target(self) -> str:
        """The evaluation runner's ``target`` for validation."""
        return "label" if self.val_from_dataset else "predicted"


def align_labels(dataset: ImageDataset, class_names: Sequence[str]) -> np.ndarray | None:
    """Map the data set's labels to the classifier's class indices.

    Returns a lookup array ``new = table[old]`` (or ``None`` when labels are already class indices).
    Named classes are matched to ``class_names`` by name (case-insensitive); folders named by integers
    are taken as indices; otherwise the label space must have the classifier's size.

    Raises:
        InputError: the data set's classes cannot be matched to the classifier's.
    """
    names = dataset.classes
    num_classes = len(class_names)
    if names is None:
        labels = dataset.labels[dataset.labels >= 0]
        if labels.size and int(labels.max()) >= num_classes:
            raise InputError(
                f"labels of {dataset.source} go up to {int(labels.max())} but the classifier has {num_classes} "
                "classes; train with labels from the classifier instead (--labels blackbox)."
            )
        return None
    lookup = {n.lower(): i for i, n in reversed(list(enumerate(class_names)))}
    if all(n.lower() in lookup for n in names):
        table = np.asarray([lookup[n.lower()] for n in names], dtype=np.int64)
        return None if np.array_equal(table, np.arange(len(names))) else table
    if all(n.isdigit() for n in names):
        table = np.asarray([int(n) for n in names], dtype=np.int64)
        if table.max() >= num_classes:
            raise InputError(f"class folder {int(table.max())} of {dataset.source} is out of range for a classifier "
                             f"with {num_classes} classes.")
        return table
    if len(names) == num_classes:  # e.g. all 1000 ImageNet wnid folders: sorted order = class index order
        return None
    unknown = [n for n in names if n.lower() not in lookup][:5]
    raise InputError(
        f"cannot match the {len(names)} classes of {dataset.source} (e.g. {unknown}) to the classifier's {num_classes} "
        "classes: name the class folders like the classifier's classes (or by class index), or train with labels "
        "from the classifier (--labels blackbox)."
    )
