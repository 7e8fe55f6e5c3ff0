"""The trainer logs the objective's terms by name: a term registered in one place is trained on and logged; the
masker is built from the config through the TrainableMasker contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.objective import ObjectiveTerms, Term, register_term
from blackbox_saliency.objective import terms as terms_module
from blackbox_saliency.training import TrainConfig, train
from blackbox_saliency.training.builders import build_masker, masker_settings
from blackbox_saliency.training.trainer import LOSS_KEYS


def _config(tmp_path, **changes) -> TrainConfig:
    values = dict(classifier="toy", data="toy", out=str(tmp_path / "run"), steps=4, batch_size=8, lr=1e-2,
                  fake_prob=0.5, progress=False, device="cpu", checkpoint_every=0, val_every=0, log_every=2,
                  num_workers=0)
    return TrainConfig(**{**values, **changes})


def test_the_logged_loss_keys_are_the_objective_terms():
    assert LOSS_KEYS == ("total", *ObjectiveTerms.names())


def test_a_term_registered_in_one_place_is_trained_on_and_logged_by_name(tmp_path, monkeypatch, toy_blackbox,
                                                                         toy_encoder, squares_dataset, single_thread):
    monkeypatch.setattr(terms_module, "TERMS", list(terms_module.TERMS))  # the registry is restored afterwards
    register_term(Term("mask_square", lambda objective, batch: batch.masks.flatten(1).pow(2).mean(1),
                       weight="mask_square_coef", default_weight=2.0, on_fake=True))
    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))
    result = train(_config(tmp_path), classifier=toy_blackbox, masker=masker, train_data=squares_dataset(32, 0))
    lines = [json.loads(line) for line in (Path(result.masker_path).parent / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4]
    for line in lines:
        losses = line["loss"]
        assert list(losses) == ["total", "tv", "area", "preserve", "destroy", "crop", "aux", "mask_square"]
        assert losses["mask_square"] > 0
        # the loss is the sum of the terms' batch means (each logged value is the mean over the logged steps)
        assert losses["total"] == pytest.approx(sum(v for k, v in losses.items() if k != "total"), rel=1e-5)
    assert result.metrics["train_mask_square"] == lines[-1]["loss"]["mask_square"]


def test_the_paper_masker_is_built_through_the_masker_contract(toy_encoder):
    config = TrainConfig(classifier="toy", encoder=toy_encoder, preset="fast", encoder_pretrained=False,
                         masker_overrides={"upsampler_channels": [8]}, masker_options={"mask_eps": 0.01})
    assert masker_settings(config, 3) == {"num_classes": 3, "encoder": toy_encoder, "preset": "fast",
                                          "encoder_pretrained": False, "class_prior": True,
                                          "upsampler_channels": (8,), "mask_eps": 0.01}
    built = build_masker(config, 3, None)
    direct = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, classifier_name="toy",
                            upsampler_channels=(8,), mask_eps=0.01)
    assert built.architecture == "saliency_masker" and built.config == direct.config and built.classifier_name == "toy"
    with pytest.raises(InputError, match="num_classes"):
        masker_settings(TrainConfig(masker_options={"num_classes": 5}), 3)


def test_a_plugin_architecture_is_asked_for_by_name(monkeypatch, toy_encoder):
    """``masker`` names the architecture; its options, and nothing of saliency_masker's, are its keyword arguments."""
    import blackbox_saliency.maskers as maskers

    asked = {}

    def fake_build(architecture, **settings):
        asked.update(architecture=architecture, **settings)
        return SaliencyMasker(settings["num_classes"], encoder=toy_encoder, preset="fast", encoder_pretrained=False)

    monkeypatch.setattr(maskers, "build_trainable_masker", fake_build, raising=False)
    masker = build_masker(TrainConfig(classifier="toy", masker="my_masker", masker_options={"width": 6}), 3, None)
    assert asked == {"architecture": "my_masker", "num_classes": 3, "width": 6}
    assert masker.classifier_name == "toy" and masker.config["classifier_name"] == "toy"
    with pytest.raises(InputError, match="configure saliency_masker"):
        TrainConfig(classifier="toy", data="d", out="o", masker="my_masker",
                    masker_overrides={"gate_skips": True}).validate()


def test_frozen_modules_stay_frozen_and_channels_last_goes_through_the_contract(tmp_path, toy_blackbox, toy_encoder,
                                                                                squares_dataset, single_thread):
    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))
    encoder_before = {k: v.clone() for k, v in masker.encoder.state_dict().items()}
    train(_config(tmp_path, channels_last=True, steps=2), classifier=toy_blackbox, masker=masker,
          train_data=squares_dataset(16, 0))
    assert all(torch.equal(v, encoder_before[k]) for k, v in masker.encoder.state_dict().items())
    assert not any(p.requires_grad for module in masker.frozen_modules() for p in module.parameters())
