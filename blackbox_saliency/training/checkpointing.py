"""Training checkpoints: everything needed to continue a run exactly where it stopped.

Read and written by the library's one checkpoint reader/writer (:func:`~blackbox_saliency.checkpoints.read_payload`,
:func:`~blackbox_saliency.checkpoints.write_payload`) in the format :data:`TRAINING_FORMAT`; the masker
weights are :func:`~blackbox_saliency.maskers.checkpoint.trainable_state`, as in a masker checkpoint.
A checkpoint is a ``torch.save`` dict, written atomically and readable with ``weights_only=True``::

    {"kind": "blackbox_saliency.training_state", "format_version": 1, "library_version": ...,
     "step": int, "epoch": int, "batch_in_epoch": int,   # the data position (see ResumableBatchSampler)
     "config": TrainConfig.to_dict(), "masker_config": masker.config,
     "masker_architecture": masker.architecture,          # absent in older checkpoints: "saliency_masker"
     "masker_state": {...},                              # trainable weights and buffers (no encoder)
     "optimizer": optimizer.state_dict(),
     "scheduler": lr_scheduler.state_dict(),             # absent in checkpoints of older versions
     "rng": [per-rank RNG states], "world_size": int, "metrics": {...}, "precision": str}

RNG states are stored as tensors and plain numbers (torch, CUDA, numpy, python ``random``) so that
``weights_only=True`` loading works.

Example:
    >>> import random, torch
    >>> from blackbox_saliency.training.checkpointing import capture_rng_state, restore_rng_state
    >>> state = capture_rng_state()
    >>> a = (torch.rand(1).item(), random.random())
    >>> restore_rng_state(state)
    >>> (torch.rand(1).item(), random.random()) == a
    True
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoints import CheckpointFormat, check_payload, read_payload, write_payload
from ..errors import CheckpointError
from ..maskers.checkpoint import MASKER_FORMAT, load_trainable_state, trainable_state
from ..safe_load import check_finite_tensors, load_weights_only
from .precision import PRECISIONS

__all__ = [
    "TRAINING_CHECKPOINT_KIND",
    "TRAINING_FORMAT",
    "capture_rng_state",
    "restore_rng_state",
    "trainable_state",
    "load_trainable_state",
    "save_training_state",
    "load_training_state",
    "load_initial_masker",
]

TRAINING_CHECKPOINT_KIND = "blackbox_saliency.training_state"


def _not_a_training_checkpoint(path: Path, payload: object) -> str:
    kind = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
    hint = " (that is a trained masker: load it with load_masker)" if kind == MASKER_FORMAT.kind else ""
    return (f"{path} is not a training checkpoint (kind {kind!r}){hint}; --resume needs the checkpoint.pt of a "
            "training run.")


TRAINING_FORMAT = CheckpointFormat(
    kind=TRAINING_CHECKPOINT_KIND,
    version=1,
    what="training checkpoint",
    required={"step": int, "epoch": int, "batch_in_epoch": int, "config": dict, "masker_config": dict,
              "masker_state": dict, "optimizer": dict},
    missing="no training checkpoint at {path}; nothing to resume. Start a new run without --resume, or pass the "
            "checkpoint's path.",
    wrong_kind=_not_a_training_checkpoint,
    too_new="{path} has training-checkpoint format_version {version!r}; this library reads format_version <= "
            "{supported}.",
    tensors=lambda payload: payload.get("masker_state"),
    fix="Start anew with --overwrite, or resume from a copy.",
)


def capture_rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """The global RNG states (torch CPU, CUDA of ``device``, numpy, python) as tensors and plain values."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    cuda = None
    if device is not None and torch.device(device).type == "cuda":
        cuda = torch.cuda.get_rng_state(device)
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": int(py_version), "internal": torch.tensor(py_internal, dtype=torch.int64),
                   "gauss_next": py_gauss},
    }


def restore_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Inverse of :func:`capture_rng_state`; CheckpointError for a malformed state."""
    try:
        _restore_rng_state(state, device)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as error:
        raise CheckpointError(f"the random-number state in the training checkpoint is malformed "
                              f"({type(error).__name__}: {error}); start a new run with --init-from that checkpoint "
                              "instead of --resume.") from error


def _restore_rng_state(state: dict[str, Any], device: torch.device | None) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") is not None and device is not None and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))


def save_training_state(path: str | os.PathLike[str], **entries: Any) -> Path:
    """Atomically write a training checkpoint holding ``entries`` (see the module docs for the keys)."""
    return write_payload(path, TRAINING_FORMAT, entries)


#: More optimisation steps than any run takes; a larger recorded step (a crafted file) would hang the LR replay.
MAX_STEPS = 10**8


def _check_position(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    for name, top in (("step", MAX_STEPS), ("epoch", MAX_STEPS), ("batch_in_epoch", MAX_STEPS), ("world_size", 4096)):
        value = state.get(name, 1 if name == "world_size" else 0)
        low = 1 if name == "world_size" else 0
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
            raise CheckpointError(f"the training checkpoint {Path(path)} records `{name}` = {value!r}; it must be an "
                                  f"int in {low}..{top}.")


#: Optional entries of a training checkpoint, with the types they must have when present (the required ones are
#: checked by :data:`TRAINING_FORMAT`).
_OPTIONAL_ENTRY_TYPES: dict[str, tuple[type, ...]] = {"scheduler": (dict, type(None)), "rng": (list, type(None)),
                                                      "metrics": (dict, type(None)), "precision": (str,),
                                                      "masker_architecture": (str,)}


def _check_entries(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    for name, kinds in _OPTIONAL_ENTRY_TYPES.items():
        if name in state and not isinstance(state[name], kinds):
            wanted = " or ".join("None" if k is type(None) else k.__name__ for k in kinds)
            raise CheckpointError(f"the training checkpoint {Path(path)} is damaged: entry `{name}` must be a "
                                  f"{wanted}, got {state[name]!r:.80}.")
    resolved = [name for name in PRECISIONS if name != "auto"]  # what a run resolves to, and records
    if "precision" in state and state["precision"] not in resolved:
        raise CheckpointError(f"the training checkpoint {Path(path)} is damaged: entry `precision` must be one of "
                              f"{resolved}, got {state['precision']!r:.80}.")
    best = (state.get("metrics") or {}).get("best")
    if best is not None and not isinstance(best, dict):
        raise CheckpointError(f"the training checkpoint {Path(path)} is damaged: entry `metrics` holds a `best` that "
                              f"is not a dict ({best!r:.80}).")


def load_training_state(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Read and validate a training checkpoint (``weights_only=True``); CheckpointError when unusable (including a
    position out of range and NaN or infinite optimiser state)."""
    state = read_payload(path, TRAINING_FORMAT, map_location)
    _check_position(state, path)
    _check_entries(state, path)
    check_finite_tensors(state.get("optimizer"), path, "optimiser state of the training checkpoint")
    return state


def load_initial_masker(path: str | os.PathLike[str]) -> nn.Module:
    """The masker to fine-tune from: a registered masker name (``efficientnet_lite0``, the shipped one), a
    trained masker file (``masker.pt``) or a training checkpoint.

    The architecture comes from the file; the weights are its decoder and class embedding (the
    encoder is rebuilt as usual). CheckpointError when the file is neither.
    """
    from ..maskers.checkpoint import DEFAULT_ARCHITECTURE, build_masker_from_config, masker_from_payload
    from ..maskers.loading import load_masker, looks_like_path

    if not looks_like_path(path) and not Path(path).expanduser().is_file():
        return load_masker(str(path))
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"--init-from {path} does not exist; pass a masker.pt or a checkpoint.pt of an earlier "
                              "run.")
    payload = load_weights_only(path, "--init-from file")
    kind = payload.get("kind") if isinstance(payload, dict) else None
    if kind == MASKER_FORMAT.kind:
        return masker_from_payload(check_payload(payload, path, MASKER_FORMAT), path)
    state = check_payload(payload, path, TRAINING_FORMAT)
    if not isinstance(state.get("masker_config"), dict) or not state["masker_config"]:
        raise CheckpointError(f"the training checkpoint {path} records no masker architecture (masker_config); it "
                              "cannot initialise a masker.")
    if not state["masker_config"].get("encoder_pretrained", True):
        raise CheckpointError(
            f"the training checkpoint {path} is of a masker with a randomly initialised encoder, whose weights "
            "training checkpoints do not hold; initialise from that run's masker.pt instead."
        )
    masker = build_masker_from_config(state["masker_config"], state.get("masker_architecture", DEFAULT_ARCHITECTURE))
    load_trainable_state(masker, state["masker_state"], str(path))
    return masker
