"""Atomic file writes: a crash mid-write never leaves a truncated file behind.

Example:
    >>> import tempfile, pathlib, torch
    >>> from blackbox_saliency.atomic import atomic_torch_save
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.pt"
    >>> atomic_torch_save({"step": 3}, path)
    >>> torch.load(path, weights_only=True)["step"]
    3
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import torch


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    The file gets the permissions of a plainly created one (``0o666`` less the umask), not the
    owner-only ``0o600`` of a temporary file, so that outputs (overlays, reports, maskers) are shared
    like any other file the user writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_current_umask())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return path


def atomic_torch_save(obj: object, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` that is atomic: readers see the old file or the complete new one."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write text atomically (UTF-8)."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
