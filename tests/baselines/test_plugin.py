"""The baselines are registered masker plugins."""

from __future__ import annotations

from blackbox_saliency import available, load_masker
from blackbox_saliency.baselines.plugin import BASELINES


def test_every_baseline_is_registered_by_the_builtin_plugin():
    maskers = available()["maskers"]
    for name in ("gradient", "gradcam", "cam", "iterative", "center", "full", "gt"):
        assert maskers[name] == "builtin:baselines"
    assert set(BASELINES) == {"gradient", "gradcam", "cam", "iterative", "center", "full", "gt"}


def test_factories_take_the_classifier(tiny_net):
    masker = load_masker("iterative", classifier=tiny_net, steps=2)
    assert masker.classifier is tiny_net and masker.num_classes == 5 and masker.steps == 2
    assert load_masker("center", classifier=tiny_net).num_classes == 5
