"""Devices and modes: the one place for each rule.

* :func:`resolve_device` turns a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``) into a checked
  :class:`torch.device` (the commands' ``--device``, the trainer's process-group set-up);
* :func:`module_device` is the device a module's parameters (or buffers) live on;
* :func:`evaluating` puts a module in eval mode for a block and restores its mode afterwards.

Example:
    >>> import torch
    >>> from blackbox_saliency.devices import evaluating, module_device, resolve_device
    >>> str(resolve_device("cpu"))
    'cpu'
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
    >>> layer = torch.nn.Dropout().train()
    >>> with evaluating(layer):
    ...     layer.training
    False
    >>> layer.training, str(module_device(torch.nn.Linear(2, 2)))
    (True, 'cpu')
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn

from .errors import InputError

__all__ = ["evaluating", "module_device", "resolve_device"]

_ModuleT = TypeVar("_ModuleT", bound=nn.Module)


def module_device(module: nn.Module, default: torch.device | str = "cpu") -> torch.device:
    """The device of ``module``'s first parameter, else of its first buffer, else ``default`` (a module without
    tensors)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device(default)


@contextmanager
def evaluating(module: _ModuleT) -> Iterator[_ModuleT]:
    """Run a block with ``module`` in eval mode, then put back the mode it had (also when the block raises)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


_CHOICES = "use auto, cpu, cuda or cuda:N"


def resolve_device(name: str | None, local_rank: int = 0) -> torch.device:
    """``"auto"``/``None`` -> CUDA when available else CPU; ``"cuda"`` -> ``cuda:local_rank``; ``"cuda:N"`` and
    ``"cpu"`` as given.

    Raises:
        InputError: an unknown name, a device type that holds no data (``meta``...) or other than cpu/cuda,
            CUDA asked for where it is not available, or a CUDA index this machine does not have.
    """
    if name in (None, "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise InputError(f"unknown device {name!r} ({error}); {_CHOICES}.") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(
            f"device {name!r} is not supported ({device.type} tensors hold no data to explain); {_CHOICES}."
        )
    if device.type == "cpu":
        return device
    if not torch.cuda.is_available():
        raise InputError(f"device {name!r} asked for but CUDA is not available here; use --device cpu (or auto).")
    if device.index is None:
        device = torch.device("cuda", local_rank)
    if device.index >= torch.cuda.device_count():
        raise InputError(
            f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)."
        )
    return device
