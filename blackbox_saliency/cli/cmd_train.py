"""``blackbox-saliency train``: train a masker for a black-box classifier (paper section 4.1).

Example::

    $ blackbox-saliency train --classifier cifar10_resnet20 --data ../shared/data/cifar10 \\
          --val-data ../shared/data/cifar10 --out runs/c10 --preset fast --steps 2000
    $ blackbox-saliency train ... --resume            # continue runs/c10/checkpoint.pt
    $ torchrun --nproc_per_node 4 -m blackbox_saliency train ...   # data-parallel
    $ blackbox-saliency train ... --masker my_masker --masker-option width=32   # a plugin's masker architecture

The trained masker is ``OUT/masker.pt`` (``blackbox_saliency.load_masker(path)`` reads it).
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from dataclasses import Field, fields
from typing import Any

from ..maskers.feature_filter import FILTER_MODES
from ..maskers.presets import MaskerConfig
from ..training.config import TrainConfig, field_choices, field_default
from .commands import COMMAND_HELP

#: Option groups of ``train --help``, in order: TrainConfig field metadata ``group`` -> title.
GROUPS = {"model": "model", "data": "data", "objective": "objective (paper defaults)", "optimisation": "optimisation",
          "run": "run", "speed": "speed"}


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,32,16, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _float_pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two comma-separated numbers like 0.35,1, got {text!r}") from None
    return lo, hi


#: Options that set ``masker_overrides`` (MaskerConfig fields; None: the preset's value):
#: flag -> (field, argparse keywords, value).
MASKER_OPTIONS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "--decoder-channels": (
        "upsampler_channels",
        dict(type=_int_list, metavar="C1,C2,...", help="upsampler channels, coarse to fine (overrides the preset)"),
        list,
    ),
    "--bottlenecks": (
        "bottlenecks_per_block",
        dict(type=int, metavar="N", help="bottleneck blocks per upsampler block (overrides the preset)"),
        int,
    ),
    "--feature-filter": (
        "feature_filter",
        dict(choices=FILTER_MODES,
             help="class gate on the coarsest map: the paper's sigmoid(X.C_s), or class-relative "
                  f"(default {MaskerConfig.feature_filter})"),
        str,
    ),
    "--prior-scale": (
        "prior_scale",
        dict(type=float, metavar="A",
             help=f"initial a of the class prior's sigmoid(a * prior + b) (default {MaskerConfig.prior_scale})"),
        float,
    ),
    "--prior-offset": (
        "prior_offset",
        dict(type=float, metavar="B", help=f"initial b of the class prior (default {MaskerConfig.prior_offset})"),
        float,
    ),
    "--gate-skips": (
        "gate_skips",
        dict(action="store_true", help="also gate the decoder's skip features with the class gate (class-dependent "
                                       "masks; default off, as in the paper)"),
        bool,
    ),
    "--mask-input-size": (
        "input_size",
        dict(type=int, metavar="S", help="resize images to S x S before the encoder"),
        lambda side: [side, side],
    ),
}


def _masker_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as ``(key, value)``: the value read as JSON (numbers, true/false, null, [lists]), else as a
    string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a keyword name, like width=32, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


#: The option that sets ``masker_options`` (the keyword arguments of the ``--masker`` architecture), repeated.
MASKER_OPTION_FLAG = "--masker-option"


def flag_of(f: Field) -> str | None:
    """The command-line option of a TrainConfig field (None: it has none of its own)."""
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _value_type(f: Field) -> Any:
    """The field's type without ``None`` (``int | None`` -> ``int``); ``str | list[str]`` stays a union."""
    hint = typing.get_type_hints(TrainConfig)[f.name]
    if isinstance(hint, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _argument(f: Field) -> dict[str, Any]:
    """argparse keywords of a field's option, from its type, default and metadata."""
    kind, default, meta = _value_type(f), field_default(f), f.metadata
    spec: dict[str, Any] = {"dest": f.name, "help": meta["help"]}
    if kind is bool:
        return spec | {"action": "store_false" if default else "store_true"}
    if meta.get("required"):
        spec["required"] = True
    else:
        spec["default"] = default
    if isinstance(kind, types.UnionType):  # str | list[str]: repeat the option
        spec["action"] = "append"
    elif typing.get_origin(kind) is tuple:  # given as "a,b"; a string default is parsed like the option (and shown so)
        spec["type"], spec["default"] = _float_pair, ",".join(f"{v:g}" for v in default)
    elif kind is not str:  # int, float
        spec["type"] = kind
    choices = field_choices(f)
    if choices is not None:
        spec["choices"] = [c.replace("_", "-") for c in choices] if meta.get("dashes") else choices
    if "const" in meta:
        spec["nargs"], spec["const"] = "?", meta["const"]
    if "metavar" in meta:
        spec["metavar"] = meta["metavar"]
    return spec


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help=COMMAND_HELP["train"],
        description="Train the real-time masking model of Dabkowski & Gal (2017) for a black-box classifier. "
        "Run it under `torchrun --nproc_per_node N` for data-parallel training (--batch-size is per process).",
    )
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    for f in fields(TrainConfig):
        group = groups[f.metadata["group"]]
        if f.name == "masker_overrides":
            for flag, (_, spec, _) in MASKER_OPTIONS.items():
                group.add_argument(flag, default=None, **spec)
        elif f.name == "masker_options":
            group.add_argument(MASKER_OPTION_FLAG, dest="masker_options", action="append", type=_masker_option,
                               default=None, metavar="KEY=VALUE",
                               help="keyword argument of the --masker architecture (repeat it; VALUE is read as JSON "
                               "when it parses, e.g. 32, true, [64,32], else as text)")
        elif flag_of(f) is not None:
            group.add_argument(flag_of(f), **_argument(f))
    p.set_defaults(func=run)


def _config_value(f: Field, value: Any) -> Any:
    """A parsed option's value as the TrainConfig field holds it."""
    if f.metadata.get("dashes"):
        return value.replace("-", "_")
    if isinstance(value, list):  # a repeated option: one value, or the list of them
        return value[0] if len(value) == 1 else list(value)
    return tuple(value) if isinstance(value, tuple) else value


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Turn parsed arguments into a :class:`TrainConfig`."""
    values = {f.name: _config_value(f, getattr(args, f.name)) for f in fields(TrainConfig) if flag_of(f) is not None}
    given = {flag: getattr(args, flag[2:].replace("-", "_")) for flag in MASKER_OPTIONS}
    overrides = {MASKER_OPTIONS[flag][0]: MASKER_OPTIONS[flag][2](value)
                 for flag, value in given.items() if value is not None}
    return TrainConfig(masker_overrides=overrides, masker_options=dict(args.masker_options or []), **values)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..training import train
    from ..training.trainer import BEST_NAME

    config = config_from_args(args)
    result = train(config)
    if result.masker_path is None:  # ranks other than 0 stay quiet
        return 0
    print(f"trained masker: {result.masker_path}")
    print(f"checkpoint:     {result.checkpoint_path}")
    print(f"steps: {result.steps}   throughput: {result.images_per_s:.1f} images/s ({result.precision}, "
          f"{result.data_wait_share:.0%} of it waiting for data)   time: {result.seconds:.1f} s")
    m = result.metrics
    if "saliency" in m:
        center = m["baselines"]["center"]
        loc = "n/a" if m.get("loc_error_paper") is None else f"{m['loc_error_paper']:.1%}"
        print(f"validation (last, {m['images']} images): saliency metric {m['saliency']:.4f} "
              f"(central box {center['saliency']:.4f}), log area {m['log_area']:.3f}, loc. error alpha*mean {loc}")
        best = m.get("best") or {}
        if best.get("value") is not None:
            print(f"best masker:    {Path(result.masker_path).parent / BEST_NAME} "
                  f"({best['metric']} {best['value']:.4f} at step {best['step']})")
    return 0


__all__ = ["GROUPS", "MASKER_OPTION_FLAG", "MASKER_OPTIONS", "config_from_args", "flag_of", "register", "run"]
