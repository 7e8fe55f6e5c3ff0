"""Process-group set-up for data-parallel training under ``torchrun``.

Without ``torchrun`` (no ``WORLD_SIZE`` > 1 in the environment) everything is a no-op on one
process. Under ``torchrun --nproc_per_node N`` the group uses NCCL on CUDA and gloo on the CPU;
rank ``r`` uses ``cuda:LOCAL_RANK`` when the device is CUDA.

Example:
    >>> from blackbox_saliency.training.distributed import setup_distributed
    >>> ctx = setup_distributed("cpu")
    >>> ctx.world_size, ctx.is_main, str(ctx.device)
    (1, True, 'cpu')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..devices import resolve_device  # the one device rule; re-exported here for the trainer

__all__ = ["DistContext", "setup_distributed", "resolve_device"]


@dataclass
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``, its ``device``; ``is_main`` writes files."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (rank order); ``[obj]`` without a process group."""
        if not self.distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (e.g. batch-norm running statistics) to every rank."""
        if self.distributed:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def setup_distributed(device: str = "auto") -> DistContext:
    """Join the ``torchrun`` process group when there is one, and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistContext(0, 1, 0, resolved, False)
    owns = False
    if not dist.is_initialized():
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
        owns = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, resolved, owns)
