"""The resumable distributed batch sampler."""

from __future__ import annotations

import pytest

from blackbox_saliency.errors import InputError
from blackbox_saliency.training.sampler import ResumableBatchSampler, derive_seed


def _indices(batches):
    return [i for batch in batches for i, _ in batch]


def test_ranks_partition_the_data_and_epochs_reshuffle():
    ranks = [ResumableBatchSampler(103, 5, seed=1, rank=r, world_size=3) for r in range(3)]
    assert all(s.batches_per_epoch == 6 for s in ranks)  # 103 // 3 = 34 per rank -> 6 full batches of 5
    seen = [_indices(list(s)) for s in ranks]
    assert all(len(x) == 30 for x in seen)
    flat = sum(seen, [])
    assert len(set(flat)) == len(flat) and all(0 <= i < 103 for i in flat)
    ranks[0].set_position(1, 0)
    assert _indices(list(ranks[0])) != seen[0]


def test_resume_position_continues_the_same_stream():
    full = ResumableBatchSampler(40, 4, seed=7)
    full.set_position(2, 0)
    expected = list(full)
    resumed = ResumableBatchSampler(40, 4, seed=7)
    resumed.set_position(2, 3)
    assert len(resumed) == len(expected) - 3 and list(resumed) == expected[3:]
    resumed.set_position(2, resumed.batches_per_epoch)
    assert list(resumed) == []


def test_sample_seeds_depend_on_seed_epoch_and_index_only():
    a = dict(pair for batch in ResumableBatchSampler(20, 2, seed=0, rank=0, world_size=2) for pair in batch)
    b = dict(pair for batch in ResumableBatchSampler(20, 5, seed=0) for pair in batch)
    assert all(b[i] == s for i, s in a.items())  # whatever the batch size or world size
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
    assert 0 <= derive_seed(2**70, -5) < 2**63


def test_too_little_data():
    with pytest.raises(InputError, match="too few"):
        ResumableBatchSampler(7, 4, seed=0, world_size=2)
    with pytest.raises(InputError, match="out of range"):
        ResumableBatchSampler(8, 4, seed=0).set_position(0, 3)
