"""Encoders are a plugin kind like the others: built-ins, a third-party plugin object, register_encoder, broken
plugins."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

import blackbox_saliency as bs
from blackbox_saliency.cli.main import main
from blackbox_saliency.errors import InputError, PluginError
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.maskers.encoders import (
    EncoderSpec,
    FrozenEncoder,
    available_encoders,
    build_encoder,
    register_encoder,
)
from blackbox_saliency.plugins import hookspecs, manager
from blackbox_saliency.plugins.manager import PluginWarning, plugin_problems, scan

from .broken import BROKEN_HOOKS, broken_plugin
from .broken import plugin_manager as _manager


class _Pyramid(nn.Module):
    """Three feature maps at strides 2, 4, 8 (8, 16, 32 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.s1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.s2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.s3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.s3(self.s2(self.s1(x)))


def _pyramid_spec(pretrained: bool = True) -> EncoderSpec:
    return EncoderSpec(_Pyramid(), ["s1", "s2", "s3"], (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), probe_size=32)


class ThirdPartyEncoders:
    """What a plugin package would ship: one hookimpl offering an encoder."""

    @hookspecs.hookimpl
    def blackbox_saliency_encoders(self):
        return {"third_party_pyramid": _pyramid_spec}


@pytest.fixture
def registered():
    """Register ``plugins`` with the process-wide manager for one test, then take them out again."""
    pm = manager.get_plugin_manager()
    added: list[object] = []

    def add(plugin: object, name: str) -> object:
        pm.register(plugin, name=name)
        added.append(plugin)
        return plugin

    yield add
    for plugin in added:
        pm.unregister(plugin)


def test_builtin_encoders_come_from_the_builtin_plugin():
    found = bs.available()["encoders"]
    assert {
        "efficientnet_lite0",
        "cifar10_resnet20",
        "cifar10_resnet56",
        "resnet18",
        "resnet50",
        "wide_resnet50_2",
    } <= set(found)
    assert {found[name] for name in ("efficientnet_lite0", "resnet18")} == {"builtin:maskers"}
    assert available_encoders() == sorted(found)


def test_available_lists_the_five_kinds():
    kinds = bs.available()
    assert sorted(kinds) == ["classifiers", "encoders", "evidence_removers", "masker_architectures", "maskers"]
    assert kinds["masker_architectures"]["saliency_masker"] == "builtin:maskers"


def test_an_encoder_from_a_third_party_plugin_is_buildable_and_usable_by_a_masker(registered):
    assert "third_party_pyramid" not in available_encoders()
    registered(ThirdPartyEncoders(), "third-party-encoders")
    assert bs.available()["encoders"]["third_party_pyramid"] == "third-party-encoders"
    encoder = build_encoder("third_party_pyramid", pretrained=False)
    assert isinstance(encoder, FrozenEncoder)
    assert (encoder.channels, encoder.strides) == ([8, 16, 32], [2, 4, 8])
    masker = SaliencyMasker(3, encoder="third_party_pyramid", encoder_pretrained=False, preset="fast").eval()
    with torch.no_grad():
        masks = masker(torch.rand(2, 3, 32, 32), torch.tensor([0, 2]))
    assert masks.shape == (2, 1, 32, 32)
    assert float(masks.min()) >= 0.0 and float(masks.max()) <= 1.0
    assert masker.config["encoder"] == "third_party_pyramid"


def test_the_encoder_disappears_with_its_plugin():
    pm = manager.get_plugin_manager()
    pm.register(ThirdPartyEncoders(), name="third-party-encoders")
    assert "third_party_pyramid" in available_encoders()
    pm.unregister(name="third-party-encoders")
    with pytest.raises(InputError, match="no encoder named 'third_party_pyramid'.*resnet18"):
        build_encoder("third_party_pyramid")


def test_register_encoder_is_a_plugin_of_the_manager():
    register_encoder("_test_registered_pyramid", _pyramid_spec)
    pm = manager.get_plugin_manager()
    try:
        assert bs.available()["encoders"]["_test_registered_pyramid"] == "register_encoder('_test_registered_pyramid')"
        assert build_encoder("_test_registered_pyramid").channels == [8, 16, 32]
        # registering the name again replaces the builder (no ambiguity with itself)
        register_encoder(
            "_test_registered_pyramid",
            lambda pretrained: EncoderSpec(_Pyramid(), ["s1", "s2"], (0.5,) * 3, (0.25,) * 3, probe_size=32),
        )
        assert build_encoder("_test_registered_pyramid").channels == [8, 16]
    finally:
        pm.unregister(name="register_encoder('_test_registered_pyramid')")
    assert "_test_registered_pyramid" not in available_encoders()


def test_register_encoder_refuses_a_name_another_plugin_offers():
    with pytest.raises(PluginError, match="'resnet18' is already offered by builtin:maskers"):
        register_encoder("resnet18", _pyramid_spec)
    assert build_encoder("resnet18", pretrained=False).channels == [64, 64, 128, 256, 512]


def test_two_plugins_claiming_an_encoder_name_make_it_ambiguous(registered):
    class Clash:
        @hookspecs.hookimpl
        def blackbox_saliency_encoders(self):
            return {"resnet18": _pyramid_spec}

    registered(Clash(), "clash-encoders")
    with pytest.warns(PluginWarning, match="both claim the encoder name 'resnet18'"):
        with pytest.raises(
            PluginError, match="two plugins claim the encoder name 'resnet18': builtin:maskers and clash-encoders"
        ):
            build_encoder("resnet18", pretrained=False)
        assert "resnet18" not in available_encoders()
        assert build_encoder("cifar10_resnet20", pretrained=False).strides == [
            1,
            2,
            4,
        ]  # the rest of the kind still loads


@pytest.mark.parametrize("broken", list(BROKEN_HOOKS))
def test_a_broken_encoder_hook_is_skipped_with_a_warning(broken):
    message = ("" if broken == "bad_factory" else r"blackbox_saliency_encoders\(\) ") + re.escape(BROKEN_HOOKS[broken])
    pm = _manager(broken_plugin("encoders", broken), ThirdPartyEncoders())
    with pytest.warns(PluginWarning, match=message):
        found = scan("encoders", pm)
    assert set(found.found) == {"third_party_pyramid"}
    assert [p.source for p in found.problems] == ["broken-plugin-0"]
    assert [p.source for p in plugin_problems(pm)] == ["broken-plugin-0"]


def test_a_failing_or_wrong_encoder_builder_is_attributed_to_its_plugin(registered):
    class Faulty:
        @hookspecs.hookimpl
        def blackbox_saliency_encoders(self):
            return {
                "_raises": lambda pretrained=True: {}["missing"],
                "_not_a_spec": lambda pretrained=True: nn.Identity(),
            }

    registered(Faulty(), "faulty-encoders")
    with pytest.raises(PluginError, match="building the encoder '_raises' from faulty-encoders failed: KeyError"):
        build_encoder("_raises")
    with pytest.raises(
        PluginError, match="'_not_a_spec' from faulty-encoders returned Identity; it must return an EncoderSpec"
    ):
        build_encoder("_not_a_spec")


def test_a_misspelled_encoder_hook_is_reported():
    class Misspelled:
        def blackbox_saliency_encoder(self):  # singular: not a hook
            return {}

    assert manager._unknown_hooks(Misspelled()) == ["blackbox_saliency_encoder"]
    assert "blackbox_saliency_encoders" in manager.HOOK_NAMES


def test_the_plugins_command_lists_encoders(registered, capsys):
    registered(ThirdPartyEncoders(), "third-party-encoders")
    assert main(["plugins", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["encoders"]["third_party_pyramid"] == "third-party-encoders"
    assert listed["encoders"]["resnet18"] == "builtin:maskers"
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    assert "encoders:\n" in table and "third_party_pyramid" in table
