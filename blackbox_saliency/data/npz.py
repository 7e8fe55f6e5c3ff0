"""``.npz`` image archives: ``images`` (N, H, W, 3) uint8, ``labels`` (N,) and optionally ``classes`` (K,).

A folder holding several archives is read through :func:`pick_npz`: the one file, or the file whose name
contains ``train`` (for training) or ``test`` / ``val`` (otherwise).

Example:
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from blackbox_saliency.data.npz import read_npz
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.npz"
    >>> np.savez(path, images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.array([3, 1]))
    >>> arrays = read_npz(path)
    >>> arrays.images.shape, arrays.labels.tolist(), arrays.classes
    ((2, 4, 4, 3), [3, 1], None)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataNotFoundError, ImageReadError, InputError

__all__ = ["NpzArrays", "pick_npz", "read_npz"]

_NEEDS = "it needs `images` (N, H, W, 3) uint8 and `labels` (N,)"


class NpzArrays(NamedTuple):
    """The arrays of an archive: ``images`` (N, H, W, 3) uint8, ``labels`` (N,) int64 (-1 = none), ``classes``
    or ``None``."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str] | None


def read_npz(path: str | os.PathLike[str], require_labels: bool = False) -> NpzArrays:
    """Read and check an ``.npz`` archive (pickled arrays are refused).

    Args:
        path: the archive.
        require_labels: the array ``labels`` must be there; otherwise its absence means every label is -1.

    Raises:
        DataNotFoundError: the file does not exist.
        InputError: an array is missing or has the wrong dtype or shape.
        ImageReadError: the file is not a readable ``.npz`` archive.
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path} does not exist; pass the path of an .npz with `images` and `labels`.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            found = list(archive.files)
            images = archive["images"] if "images" in found else None
            labels = archive["labels"] if "labels" in found else None
            classes = archive["classes"] if "classes" in found else None
    except (OSError, ValueError, EOFError) as error:
        raise ImageReadError(f"cannot read the .npz archive {path}: {error}") from error
    needed = ("images", "labels") if require_labels else ("images",)
    absent = [name for name, array in (("images", images), ("labels", labels)) if array is None and name in needed]
    if absent:
        raise InputError(f"{path} lacks the array '{absent[0]}' (found {found}); {_NEEDS}.")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"{path}: `images` must be uint8 of shape (N, H, W, 3), got {images.dtype} {images.shape}.")
    if labels is None:
        labels = np.full(images.shape[0], -1, dtype=np.int64)
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            bad = labels[~whole][:3].tolist()
            raise InputError(
                f"{path}: `labels` holds values that are not whole numbers (e.g. {bad}); "
                "labels are class indices (ints)."
            )
    elif labels.dtype.kind not in "iub":
        raise InputError(f"{path}: `labels` has dtype {labels.dtype}; labels are class indices (ints).")
    labels = labels.astype(np.int64)
    if labels.shape[0] != images.shape[0]:
        raise InputError(
            f"{path}: {images.shape[0]} images but {labels.shape[0]} labels; "
            f"`labels` must have shape ({images.shape[0]},)."
        )
    return NpzArrays(images, labels, [str(c) for c in classes] if classes is not None else None)


def pick_npz(folder: str | os.PathLike[str], train: bool) -> Path:
    """The archive of ``folder`` to read: its only ``.npz``, else the one named ``*train*`` (``train``) or
    ``*test*`` / ``*val*``."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.npz") if p.is_file())
    if len(files) == 1:
        return files[0]
    words = ("train",) if train else ("test", "val")
    matching = [p for p in files if any(w in p.name.lower() for w in words)]
    if len(matching) != 1:
        raise InputError(
            f"{folder} holds {len(files)} .npz files ({', '.join(p.name for p in files)}) and none (or several) "
            f"has {' or '.join(words)!r} in its name; pass the .npz file itself."
        )
    return matching[0]
