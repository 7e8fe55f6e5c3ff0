"""A resumable, distributed batch sampler and seed derivation.

The order of the samples is :class:`torch.utils.data.DistributedSampler`'s (shuffled with
``seed + epoch``, rank ``r`` of ``w`` takes every ``w``-th index). Each yielded key is
``(index, sample_seed)``: the augmentation of a sample depends only on ``(seed, epoch, index)``.
The position ``(epoch, batch)`` is all that is needed to continue exactly where a run stopped.

Example:
    >>> from blackbox_saliency.training.sampler import ResumableBatchSampler
    >>> sampler = ResumableBatchSampler(10, batch_size=4, seed=0)
    >>> sampler.batches_per_epoch
    2
    >>> first = list(sampler)
    >>> sampler.set_position(0, 1)
    >>> list(sampler) == first[1:]
    True
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import DistributedSampler, Sampler

from ..errors import InputError

__all__ = ["ResumableBatchSampler", "derive_seed"]

_MASK64 = (1 << 64) - 1


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixing the integers ``parts`` (splitmix64 chain); deterministic across processes.

    Example:
        >>> derive_seed(0, 1) != derive_seed(1, 0)
        True
    """
    state = 0x2545F4914F6CDD1D
    for part in parts:
        state = _splitmix64(state ^ (int(part) & _MASK64))
    return state >> 1


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, sample_seed)`` for one rank, resumable at any batch of any epoch.

    Args:
        dataset_size: number of samples.
        batch_size: samples per batch on this rank (incomplete batches are dropped).
        seed: run seed (shuffling and augmentation seeds).
        rank, world_size: this process's place among the data-parallel processes.
    """

    def __init__(self, dataset_size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.dataset_size = int(dataset_size)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        if self.batches_per_epoch < 1:
            raise InputError(
                f"the data set has {self.dataset_size} images: too few for one batch of {self.batch_size} per process "
                f"on {self.world_size} process(es); lower --batch-size or add data."
            )
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        """Full batches per epoch on each rank."""
        return (self.dataset_size // self.world_size) // self.batch_size

    def set_position(self, epoch: int, batch: int) -> None:
        """Continue with batch ``batch`` (0-based) of epoch ``epoch`` at the next iteration."""
        if batch < 0 or batch > self.batches_per_epoch:
            raise InputError(f"batch position {batch} out of range [0, {self.batches_per_epoch}].")
        self.epoch, self.start_batch = int(epoch), int(batch)

    def _indices(self) -> list[int]:
        order = DistributedSampler(
            range(self.dataset_size), num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=self.seed,
            drop_last=True,
        )
        order.set_epoch(self.epoch)
        return list(order)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        indices = self._indices()
        epoch, size = self.epoch, self.batch_size
        for b in range(self.start_batch, self.batches_per_epoch):
            chunk = indices[b * size : (b + 1) * size]
            yield [(i, derive_seed(self.seed, epoch, i)) for i in chunk]

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch
