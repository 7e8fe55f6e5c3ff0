"""The checks of :meth:`TrainConfig.validate <blackbox_saliency.training.config.TrainConfig.validate>`, and the
helpers that read a config field's command-line metadata (:func:`field_choices`, :func:`field_default`).

Every check raises :class:`~blackbox_saliency.errors.InputError` naming the option and what it must be, so a
crafted or damaged config (e.g. the one stored in a checkpoint) is refused before anything is built.

Example:
    >>> from blackbox_saliency.training.config import TrainConfig
    >>> from blackbox_saliency.training.config_checks import check_values
    >>> check_values(TrainConfig(data="photos", out="runs/x", steps=0))
    Traceback (most recent call last):
    ...
    blackbox_saliency.errors.InputError: `steps` must be an integer >= 1, got 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, Field, fields
from typing import Any

from ..errors import InputError

__all__ = ["DEVICES", "check_values", "field_choices", "field_default"]

DEVICES = ("auto", "cpu", "cuda")


def field_choices(f: Field) -> tuple[str, ...] | None:
    """The allowed values of a TrainConfig field (None: any value of its type)."""
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = f.metadata.get("choices")
    return choices() if callable(choices) else choices


def field_default(f: Field) -> Any:
    """The default value of a TrainConfig field."""
    return f.default_factory() if f.default is MISSING else f.default


def check_values(config: Any) -> None:
    """Check every value of a :class:`~blackbox_saliency.training.config.TrainConfig` (its type, the required names,
    the choices, the numeric ranges); InputError naming the first one that is wrong."""
    _check_field_types(config)
    _check_names(config)
    _check_numbers(config)


#: Integer options and their smallest value (a None value, of the optional ones, is not checked).
_INT_MINIMA = {"image_size": 8, "steps": 1, "batch_size": 1, "val_size": 1, "val_every": 0, "checkpoint_every": 0,
               "log_every": 1, "warmup_steps": 0, "seed": 0, "val_batch_size": 1, "threads": 1, "num_workers": -1}
#: Number options that must be finite and >= 0 (``area_power`` may be None).
_NON_NEGATIVE = ("tv_coef", "area_coef", "destroy_coef", "destroy_power", "crop_coef", "aux_coef", "weight_decay",
                 "grad_clip", "area_power")


def _check_names(config: Any) -> None:
    """The required names, the choices, and the options that contradict each other."""
    if not isinstance(config.classifier, str) or not config.classifier:
        raise InputError("`classifier` must name a black box (see `blackbox-saliency plugins`).")
    if not config.data or not all(isinstance(p, str) and p for p in config.data_paths()):
        raise InputError("`data` is required: an .npz file or a folder of images (--data PATH, repeat it to draw from "
                         "several).")
    if not config.out:
        raise InputError("`out` is required: the folder for checkpoints and the trained masker (--out DIR).")
    if config.resume and config.overwrite:
        raise InputError("`resume` and `overwrite` contradict each other: --resume continues the run in --out, "
                         "--overwrite replaces it; pass one.")
    for f in fields(config):
        allowed = field_choices(f)
        if allowed is not None and getattr(config, f.name) not in allowed:
            raise InputError(f"`{f.name}` must be one of {allowed}, got {getattr(config, f.name)!r}.")
    if config.device.split(":")[0] not in DEVICES:
        raise InputError(f"`device` must be one of {DEVICES}, got {config.device.split(':')[0]!r}.")


def _check_numbers(config: Any) -> None:
    """Ranges of the numeric options."""
    for name, minimum in _INT_MINIMA.items():
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise InputError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    lo, hi = config.crop_scale
    if not 0.0 < lo <= hi <= 1.0:
        raise InputError(f"`crop_scale` must satisfy 0 < min <= max <= 1, got {config.crop_scale!r}.")
    for name in _NON_NEGATIVE:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            raise InputError(f"`{name}` must be a finite number >= 0, got {value!r}.")
    lr = config.lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise InputError(f"`lr` must be a finite number > 0, got {lr!r}.")
    if not isinstance(config.fake_prob, (int, float)) or not 0.0 <= float(config.fake_prob) < 1.0:
        raise InputError(f"`fake_prob` must be in [0, 1), got {config.fake_prob!r}.")


def _fits(value: object, kind: str) -> bool:
    """Whether ``value`` has the type written ``kind`` in a field annotation (the kinds TrainConfig uses)."""
    kind = kind.strip()
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "str":
        return isinstance(value, str)
    if kind.startswith("list["):
        return isinstance(value, list) and all(_fits(v, kind[5:-1]) for v in value)
    if kind.startswith("tuple["):
        parts = kind[6:-1].split(",")
        if not isinstance(value, (list, tuple)) or len(value) != len(parts):
            return False
        return all(_fits(v, k) for v, k in zip(value, parts))
    if kind.startswith("dict["):
        return isinstance(value, dict)
    return True  # a kind this check does not know: the specific checks of validate() cover it


def _check_field_types(config: Any) -> None:
    """InputError naming the first field whose value does not have its annotated type (e.g. a crafted checkpoint's
    config)."""
    for f in fields(config):
        value = getattr(config, f.name)
        kinds = str(f.type).split("|")
        if not any(_fits(value, kind) for kind in kinds):
            finite = " (finite numbers)" if "float" in str(f.type) else ""
            raise InputError(f"`{f.name}` must be {' or '.join(k.strip() for k in kinds)}{finite}, got {value!r:.80}.")
