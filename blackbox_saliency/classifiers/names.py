"""Class names shipped with the package.

``imagenet_classes.txt`` holds the 1000 ImageNet-1k class names in the
standard index order (0 = tench ... 999 = toilet tissue): the first WordNet
lemma of each ILSVRC2012 synset. Two names occur twice because two synsets
share a first lemma: "crane" (134 bird, 517 machine) and "maillot" (638, 639).

Example:
    >>> from blackbox_saliency.classifiers.names import imagenet_class_names
    >>> names = imagenet_class_names()
    >>> len(names), names[0], names[281]
    (1000, 'tench', 'tabby')
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["imagenet_class_names", "CIFAR10_CLASSES"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""The 10 CIFAR-10 classes in the official label order."""


@lru_cache(maxsize=1)
def _imagenet_names() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != 1000:
        raise RuntimeError(
            f"imagenet_classes.txt holds {len(names)} names instead of 1000; the installation is damaged."
        )
    return names


def imagenet_class_names() -> list[str]:
    """Return the 1000 ImageNet-1k class names (a fresh list each call)."""
    return list(_imagenet_names())
