"""Turn a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``) into a checked :class:`torch.device`: the one rule.

Used by the commands (``--device``) and by the trainer's process-group set-up.

Example:
    >>> from blackbox_saliency.devices import resolve_device
    >>> str(resolve_device("cpu"))
    'cpu'
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
"""

from __future__ import annotations

import torch

from .errors import InputError

__all__ = ["resolve_device"]

_CHOICES = "use auto, cpu, cuda or cuda:N"


def resolve_device(name: str | None, local_rank: int = 0) -> torch.device:
    """``"auto"``/``None`` -> CUDA when available else CPU; ``"cuda"`` -> ``cuda:local_rank``; ``"cuda:N"`` and ``"cpu"`` as given.

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
        raise InputError(f"device {name!r} is not supported ({device.type} tensors hold no data to explain); {_CHOICES}.")
    if device.type == "cpu":
        return device
    if not torch.cuda.is_available():
        raise InputError(f"device {name!r} asked for but CUDA is not available here; use --device cpu (or auto).")
    if device.index is None:
        device = torch.device("cuda", local_rank)
    if device.index >= torch.cuda.device_count():
        raise InputError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s).")
    return device
