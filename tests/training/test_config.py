"""TrainConfig: defaults, validation, round trip."""

from __future__ import annotations

import pytest

from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers.presets import DEFAULT_PRESET, PRESETS, resolve_config
from blackbox_saliency.objective import ObjectiveSettings, SaliencyObjective
from blackbox_saliency.training import TrainConfig


def _net():
    from torch import nn

    from blackbox_saliency.interfaces import BlackBoxClassifier

    return BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)), (4, 4), ["a", "b"])


def test_objective_defaults_are_the_objectives():
    config, defaults, objective = TrainConfig(), ObjectiveSettings(), SaliencyObjective(_net())
    for name in ("tv_coef", "area_coef", "destroy_coef", "destroy_power", "area_power", "variant", "crop_coef",
                 "aux_coef"):
        assert getattr(config, name) == getattr(defaults, name) == getattr(objective.settings, name), name
    assert config.fake_prob == 0.3 and config.aux_coef > 0 and config.preset == "paper"


def test_the_preset_default_is_defined_once():
    # the README's training commands and trained maskers rely on it
    assert TrainConfig().preset == DEFAULT_PRESET == "paper"
    assert resolve_config() == PRESETS[DEFAULT_PRESET]


def test_round_trip_and_differences():
    config = TrainConfig(classifier="cifar10_resnet20", data="d", out="o",
                         masker_overrides={"upsampler_channels": (8, 4)}, crop_scale=(0.5, 1.0))
    again = TrainConfig.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
    other = TrainConfig.from_dict({**config.to_dict(), "lr": 0.5, "steps": 9, "out": "elsewhere"})
    assert set(config.differences(other)) == {"lr"}  # steps and out may change on resume
    with pytest.raises(InputError, match="unknown training option"):
        TrainConfig.from_dict({"classifier": "x", "learning_rate": 1})


def test_encoder_defaults_to_the_classifier_when_it_is_an_encoder():
    assert TrainConfig(classifier="cifar10_resnet20").resolved_encoder() == "cifar10_resnet20"
    assert TrainConfig(classifier="cifar10_resnet20", encoder="resnet18").resolved_encoder() == "resnet18"
    with pytest.raises(InputError, match="--encoder"):
        TrainConfig(classifier="torchvision:vit_b_16").resolved_encoder()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"data": ""}, "data"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"fake_prob": 1.0}, "fake_prob"),
        ({"tv_coef": -1.0}, "tv_coef"),
        ({"labels": "guess"}, "labels"),
        ({"preset": "huge"}, "preset"),
        ({"variant": "other"}, "variant"),
        ({"device": "tpu"}, "device"),
        ({"crop_scale": (0.8, 0.2)}, "crop_scale"),
        ({"image_size": 4}, "image_size"),
        ({"augment": "wild"}, "augment"),
        ({"masker": ""}, "`masker` must name a masker architecture"),
        ({"masker_options": {"not a name": 1}}, "`masker_options` must map keyword names"),
        ({"masker": "other", "masker_overrides": {"gate_skips": True}}, "configure saliency_masker"),
        ({"val_batch_size": 0}, "val_batch_size"),
        ({"area_power": -1.0}, "area_power"),
        ({"crop_scale": 0.5}, "crop_scale"),
    ],
)
def test_validation_names_the_option(change, message):
    config = TrainConfig.from_dict({**TrainConfig(data="d", out="o").to_dict(), **change})
    with pytest.raises(InputError, match=message):
        config.validate()
