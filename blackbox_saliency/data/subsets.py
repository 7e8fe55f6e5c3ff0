"""Evenly spaced subsets: :func:`evenly_spaced`, the one rule for taking ``count`` of ``total`` items.

Evenly spaced rather than the first ones, so that class-sorted data (CIFAR ``.npz``) keeps every class.

Example:
    >>> from blackbox_saliency.data.subsets import evenly_spaced
    >>> evenly_spaced(10, 4), evenly_spaced(10, 4, endpoint=True)
    ([0, 2, 5, 7], [0, 3, 6, 9])
"""

from __future__ import annotations

import numpy as np

__all__ = ["evenly_spaced"]


def evenly_spaced(total: int, count: int, endpoint: bool = False) -> list[int]:
    """``min(count, total)`` distinct indices spread evenly over ``range(total)``, ascending.

    Args:
        total: the number of items.
        count: how many to take (``<= 0``: none; ``>= total``: all).
        endpoint: ``False``: ``floor(i * total / count)``, steps of ``total / count`` from 0 (the evaluation
            runner's rule); ``True``: ``round(i * (total - 1) / (count - 1))``, the first and the last item
            included (``numpy.linspace``, the training subsets' rule).
    """
    count = max(0, min(int(count), int(total)))
    if not endpoint:
        return [i * total // count for i in range(count)]
    return np.unique(np.linspace(0, total - 1, count).round().astype(np.int64)).tolist()
