"""Method names: parsing, the error listing valid ones, building."""

from __future__ import annotations

import pytest

from blackbox_saliency import InputError, PluginError
from blackbox_saliency.baselines import CenterBoxMasker, GroundTruthMasker
from blackbox_saliency.evaluation.methods import build_methods, parse_methods, valid_methods


def test_valid_methods_lists_masker_and_every_baseline():
    assert valid_methods()[:8] == ["masker", "gradient", "gradcam", "cam", "iterative", "center", "full", "gt"]


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(PluginError, match=r"unknown method\(s\) 'gradcamm'; valid methods: masker, gradient, gradcam"):
        parse_methods("gradient,gradcamm")


def test_parse_errors():
    with pytest.raises(InputError, match="listed twice"):
        parse_methods("full,full")
    with pytest.raises(InputError, match="no method"):
        parse_methods(" , ")
    assert parse_methods(["center", " gt "]) == ["center", "gt"]


def test_build(tiny_imagenet):
    built = build_methods(["center", "gt", "iterative"], tiny_imagenet, options={"iterative": {"steps": 7}})
    assert isinstance(built["center"], CenterBoxMasker) and isinstance(built["gt"], GroundTruthMasker)
    assert built["iterative"].steps == 7 and not built["iterative"].training
    with pytest.raises(InputError, match="--masker"):
        build_methods(["masker"], tiny_imagenet)


def test_a_shipped_masker_is_a_method_by_its_name(data_dir):
    """``evaluate --methods cifar10_resnet20`` (a name valid_methods() offers) builds the shipped masker, not an
    internal error."""
    from blackbox_saliency import load_classifier
    from blackbox_saliency.evaluation.methods import build_method
    from blackbox_saliency.maskers import SaliencyMasker

    if not (data_dir / "cifar10" / "weights").is_dir():
        pytest.skip("the CIFAR-10 ResNet weights are missing from the shared data")
    assert "cifar10_resnet20" in valid_methods()
    built = build_method("cifar10_resnet20", load_classifier("cifar10_resnet20"))
    assert isinstance(built, SaliencyMasker) and not built.training
