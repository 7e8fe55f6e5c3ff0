"""Where the offline data lives: :func:`shared_data_dir` and :func:`require`.

The shared data folder is ``$BLACKBOX_SALIENCY_DATA`` when set, else the first
existing of ``./../shared/data`` (beside the current checkout) and the
``shared/data`` folder beside this source tree's repository.

Example:
    >>> from blackbox_saliency.data.paths import require
    >>> require("no/such/file.npz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    blackbox_saliency.errors.DataNotFoundError: .../no/such/file.npz does not exist. Point the environment variable ...
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataNotFoundError

__all__ = ["ENV_VAR", "require", "shared_data_dir"]

ENV_VAR = "BLACKBOX_SALIENCY_DATA"


def _candidates() -> list[Path]:
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(env).expanduser()]
    repo_root = Path(__file__).resolve().parents[2]  # <repo>/blackbox_saliency/data/paths.py
    return [Path.cwd().parent / "shared" / "data", repo_root.parent / "shared" / "data"]


def shared_data_dir() -> Path:
    """Return the shared data folder (it may not exist; see :func:`require`)."""
    candidates = _candidates()
    for path in candidates:
        if path.is_dir():
            return path
    return candidates[0]


def require(relative: str | os.PathLike[str]) -> Path:
    """Return ``shared_data_dir() / relative``, raising a clear error when it is missing."""
    path = shared_data_dir() / relative
    if not path.exists():
        raise DataNotFoundError(
            f"{path} does not exist. Point the environment variable {ENV_VAR} at the shared data folder "
            "(the one holding cifar10/ and imagenet/), or pass the file's path explicitly."
        )
    return path
