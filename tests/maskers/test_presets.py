"""Presets of the masking model's decoder."""

from __future__ import annotations

import json

import pytest

from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers.presets import PRESETS, MaskerConfig, resolve_config


def test_paper_preset_follows_the_paper():
    paper = PRESETS["paper"]
    assert paper.upsampler_channels == (768, 384, 192)
    assert paper.bottlenecks_per_block == 3


def test_fast_preset_is_narrower_and_shallower_than_paper():
    fast, paper = PRESETS["fast"], PRESETS["paper"]
    assert max(fast.upsampler_channels) < min(paper.upsampler_channels)
    assert fast.bottlenecks_per_block < paper.bottlenecks_per_block


def test_overrides_apply_and_config_is_json_able():
    cfg = resolve_config("paper", upsampler_channels=[32, 16], input_size=[96, 128])
    assert cfg.upsampler_channels == (32, 16) and cfg.input_size == (96, 128)
    assert json.loads(json.dumps(cfg.to_dict()))["upsampler_channels"] == [32, 16]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"no_such_option": 1}, "unknown masker option"),
        ({"upsampler_channels": []}, "upsampler_channels"),
        ({"bottlenecks_per_block": -1}, "bottlenecks_per_block"),
        ({"mask_eps": 0.0}, "mask_eps"),
        ({"input_size": (4, 4)}, "input_size"),
    ],
)
def test_bad_options_raise_input_error(kwargs, match):
    with pytest.raises(InputError, match=match):
        resolve_config("fast", **kwargs)


def test_unknown_preset():
    with pytest.raises(InputError, match="unknown masker preset"):
        resolve_config("huge")


def test_config_is_frozen():
    with pytest.raises(Exception):
        MaskerConfig().bottlenecks_per_block = 5  # type: ignore[misc]
