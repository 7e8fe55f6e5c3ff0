"""Reading weight files with clear errors (internal helper of the classifiers)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, DataNotFoundError
from ..safe_load import check_finite_tensors, load_weights_only


def read_state_dict(path: str | os.PathLike[str], what: str) -> dict[str, torch.Tensor]:
    """Load a state dict (plain, or under the key ``state_dict``) with ``weights_only=True``.

    Raises DataNotFoundError when ``path`` is missing and CheckpointError when it
    cannot be read or holds no tensors. ``what`` names the model in messages.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"weights file for {what} not found: {path}")
    obj = load_weights_only(path, f"{what} weights file", fix="Download it again.")
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors for {what} (found {type(obj).__name__}).")
    check_finite_tensors(obj, path, f"{what} weights file")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def load_strict(network: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike[str], what: str) -> None:
    """``network.load_state_dict(state, strict=True)``, turning mismatches into a CheckpointError."""
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"the weights in {path} do not fit the {what} architecture: {str(exc)[:600]}"
        ) from exc
