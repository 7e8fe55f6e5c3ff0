"""The one way this library reads ``torch.save`` files: never running code, never trusting NaN weights.

Every checkpoint reader (maskers, training state, classifier weights) goes through
:func:`load_weights_only`, so that a refused pickle, a damaged file and a file with
non-finite weights each give one clear :class:`~blackbox_saliency.errors.CheckpointError`.

Example:
    >>> import tempfile, pathlib, torch
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
    >>> torch.save({"w": torch.ones(2)}, path)
    >>> load_weights_only(path, "test weights")["w"].tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

__all__ = ["check_finite_tensors", "load_weights_only"]


def _first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, at most 200 characters ('' when it has none)."""
    text = str(error)
    return text.splitlines()[0][:200] if text else ""


def load_weights_only(path: str | os.PathLike[str], what: str, map_location: Any = "cpu", fix: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` with a CheckpointError naming ``what`` and ``path`` on failure.

    A file that holds Python objects beyond tensors and plain containers is refused without running
    any of it (and without suggesting ``weights_only=False``); ``fix`` is appended to the messages.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"cannot read the {what} {path}: it holds Python objects other than tensors and plain data, "
            "or it is corrupt or truncated (refused unread: blackbox-saliency never runs code from a file; "
            f"only files it wrote, or plain state dicts, can be read). {fix}".rstrip()
        ) from None
    except Exception as error:  # damaged files raise RuntimeError, EOFError, zipfile errors, ...
        raise CheckpointError(
            f"cannot read the {what} {path}: {type(error).__name__}: {_first_line(error)}; "
            f"the file is corrupt or truncated. {fix}".rstrip()
        ) from None


#: What :func:`why_not_a_file` says when nothing is there (callers with their own "missing" message compare with it).
MISSING = "it does not exist"


def why_not_a_file(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a file, in words (None when it can): a folder, a symbolic link that loops or
    points nowhere, a FIFO or device, or nothing there.

    Example:
        >>> import tempfile
        >>> why_not_a_file(tempfile.mkdtemp())
        'it is a folder, not a file'
    """
    path = Path(path)
    try:
        if path.is_file():
            return None
        if path.is_dir():
            return "it is a folder, not a file"
        if path.is_symlink():
            return "it is a symbolic link that loops or points to nothing"
        if path.exists():
            return "it is not a regular file (a FIFO, socket or device)"
    except OSError as error:  # e.g. a symbolic-link loop on some systems
        return f"it cannot be inspected ({error.strerror or error})"
    return MISSING


def _tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix or "<tensor>", obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield from _tensors(value, f"{prefix}[{index}]")


def check_finite_tensors(obj: Any, path: str | os.PathLike[str], what: str) -> None:
    """CheckpointError when any floating-point tensor inside ``obj`` (nested dicts/lists) holds NaN or infinity, or
    any tensor claims more elements than the file stores for it (a crafted view that would allocate without bound)."""
    bad = []
    for name, tensor in _tensors(obj):
        stored = tensor.untyped_storage().nbytes()
        if tensor.numel() > 1 and tensor.numel() * tensor.element_size() > stored:  # checked before anything reads it
            raise CheckpointError(
                f"the {what} {Path(path)} is damaged: tensor {name} claims shape {tuple(tensor.shape)} "
                f"but the file stores {stored} bytes for it (a crafted or broken file); use another file."
            )
        if tensor.is_floating_point() and tensor.numel() and not bool(torch.isfinite(tensor).all()):
            bad.append(name)
    if bad:
        raise CheckpointError(
            f"the {what} {Path(path)} holds non-finite weights (NaN or infinity) in {', '.join(bad[:5])}"
            f"{' and more' if len(bad) > 5 else ''}; the training that wrote it diverged. Use an earlier checkpoint."
        )
