"""The one container of every checkpoint file of this library: a :class:`CheckpointFormat` says what a
kind of file holds, :func:`write_payload` writes it atomically and :func:`read_payload` reads it back
safely (``weights_only=True``) and checks it (kind, format version, required entries, finite tensors).

The formats themselves live with what they store: the trained masker's
(:data:`blackbox_saliency.maskers.checkpoint.MASKER_FORMAT`) and the training state's
(:data:`blackbox_saliency.training.checkpointing.TRAINING_FORMAT`). Each format carries its own
``version``; there is no other format-version constant.

Example:
    >>> import pathlib, tempfile
    >>> from blackbox_saliency.checkpoints import CheckpointFormat, read_payload, write_payload
    >>> notes = CheckpointFormat(kind="example.notes", version=1, what="notes file", required={"text": str},
    ...                          missing="{path} does not exist", wrong_kind=lambda path, payload: f"{path}: not notes",
    ...                          too_new="{path}: version {version} > {supported}", tensors=lambda payload: None)
    >>> path = write_payload(pathlib.Path(tempfile.mkdtemp()) / "n.pt", notes, {"text": "hello"})
    >>> read_payload(path, notes)["text"]
    'hello'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._version import __version__
from .atomic import atomic_torch_save
from .errors import CheckpointError
from .safe_load import MISSING, check_finite_tensors, load_weights_only, why_not_a_file

__all__ = ["CheckpointFormat", "check_payload", "read_payload", "write_payload"]


@dataclass(frozen=True)
class CheckpointFormat:
    """One kind of checkpoint file: what :func:`read_payload` checks and the messages it raises.

    Attributes:
        kind, version: the ``kind`` and newest ``format_version`` entries of the payload.
        what: the file's name in messages ("masker checkpoint").
        required: entries every payload holds, with their type.
        missing: message for a path that is no file (``{path}``).
        wrong_kind: message for a payload of another kind, from ``(path, payload)``.
        too_new: message for a newer format (``{path}``, ``{version}``, ``{supported}``).
        tensors: the part of the payload whose floating-point tensors must be finite.
        fix: appended to the messages of an unreadable file.
    """

    kind: str
    version: int
    what: str
    required: Mapping[str, type]
    missing: str
    wrong_kind: Callable[[Path, object], str]
    too_new: str
    tensors: Callable[[dict], object]
    fix: str = ""


def write_payload(path: str | os.PathLike[str], fmt: CheckpointFormat, entries: Mapping[str, Any]) -> Path:
    """Atomically ``torch.save`` ``entries`` with the format's ``kind``, ``format_version`` and the library version;
    returns the path."""
    return atomic_torch_save(
        {"kind": fmt.kind, "format_version": fmt.version, "library_version": __version__, **entries}, path
    )


def check_payload(payload: object, path: str | os.PathLike[str], fmt: CheckpointFormat) -> dict:
    """Return ``payload`` (as read from ``path``) if it is a complete, finite checkpoint of ``fmt``; CheckpointError
    otherwise."""
    path = Path(path)
    if not isinstance(payload, dict) or payload.get("kind") != fmt.kind:
        raise CheckpointError(fmt.wrong_kind(path, payload))
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path} is damaged: entry 'format_version' must be an int >= 1, got {version!r}.")
    if version > fmt.version:
        raise CheckpointError(fmt.too_new.format(path=path, version=version, supported=fmt.version))
    for key, kind in fmt.required.items():
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{path} is damaged: entry {key!r} is missing or not a {kind.__name__}.")
    check_finite_tensors(fmt.tensors(payload), path, fmt.what)
    return payload


def read_payload(path: str | os.PathLike[str], fmt: CheckpointFormat, map_location: Any = "cpu") -> dict:
    """Read a checkpoint of ``fmt`` (``weights_only=True``) and :func:`check_payload` it; CheckpointError when
    unusable."""
    path = Path(path)
    problem = why_not_a_file(path)
    if problem == MISSING:
        raise CheckpointError(fmt.missing.format(path=path))
    if problem is not None:
        raise CheckpointError(f"cannot read the {fmt.what} {path}: {problem}. {fmt.fix}".rstrip())
    return check_payload(load_weights_only(path, fmt.what, map_location, fix=fmt.fix), path, fmt)
