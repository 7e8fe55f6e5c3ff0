"""evenly_spaced: the runner's floor rule (default) and the training subsets' linspace rule (endpoint=True)."""

from __future__ import annotations

import numpy as np
import pytest

from blackbox_saliency.data import evenly_spaced


def test_examples():
    assert evenly_spaced(2000, 4) == [0, 500, 1000, 1500]
    assert evenly_spaced(10, 4) == [0, 2, 5, 7]
    assert evenly_spaced(10, 4, endpoint=True) == [0, 3, 6, 9]
    assert evenly_spaced(2000, 4, endpoint=True) == [0, 666, 1333, 1999]
    for endpoint in (False, True):
        assert evenly_spaced(3, 5, endpoint=endpoint) == [0, 1, 2]
        assert evenly_spaced(10, 0, endpoint=endpoint) == evenly_spaced(0, 3, endpoint=endpoint) == []
        assert evenly_spaced(7, 1, endpoint=endpoint) == [0]


@pytest.mark.parametrize("total", [1, 2, 3, 7, 10, 50, 199, 200, 1000, 2000])
def test_both_rules_match_their_former_formulas(total):
    for count in range(0, min(total, 60) + 3):
        clamped = max(0, min(count, total))  # evaluation/runner.py's evenly_spaced, as written there
        floor = [i * total // clamped for i in range(clamped)]
        assert evenly_spaced(total, count) == floor
        if 1 <= count < total:  # the training subset kept the whole set otherwise
            spaced = np.unique(np.linspace(0, total - 1, count).round().astype(np.int64)).tolist()
            assert evenly_spaced(total, count, endpoint=True) == spaced
        indices = evenly_spaced(total, count, endpoint=True)
        assert len(indices) == len(set(indices)) == min(count, total) and indices == sorted(indices)
