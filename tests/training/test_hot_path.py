"""The training step validates nothing: its data are checked once, where they enter.

Each range check costs a reduction and, on a GPU, a host-device sync; the issue that introduced
``skip_input_checks`` counted about 15 of them per step. Here every value check of the library is
counted while a short run trains; only the first batch (where data enter) may be checked.
"""

from __future__ import annotations

import torch

from blackbox_saliency import input_checks as conventions
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.training import TrainConfig, train


def test_training_steps_run_no_value_checks(tmp_path, monkeypatch, toy_blackbox, toy_encoder, squares_dataset,
                                            single_thread):
    calls: list[str] = []
    real_range = conventions._check_finite_unit_range

    def counting_range(x: torch.Tensor, name: str) -> None:
        calls.append(name)
        real_range(x, name)

    monkeypatch.setattr(conventions, "_check_finite_unit_range", counting_range)
    enabled_in_forward: list[bool] = []
    real_forward = type(toy_blackbox).forward

    def recording_forward(self, images: torch.Tensor) -> torch.Tensor:
        enabled_in_forward.append(conventions.input_checks_enabled())
        return real_forward(self, images)

    monkeypatch.setattr(type(toy_blackbox), "forward", recording_forward)

    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))
    config = TrainConfig(classifier="toy", data="toy", out=str(tmp_path / "run"), steps=6, batch_size=8, lr=1e-2,
                         fake_prob=0.5, progress=False, device="cpu", checkpoint_every=0, val_every=0, log_every=3)
    result = train(config, classifier=toy_blackbox, masker=masker, train_data=squares_dataset(32, 0))

    assert result.steps == 6
    assert calls.count("training images") == 1  # the first batch, where the data enter
    assert [name for name in calls if name != "training images"] == []  # no check inside the six steps
    assert enabled_in_forward and not any(enabled_in_forward)  # the black box ran with its checks off


def test_checks_are_back_after_training(tmp_path, toy_blackbox, toy_encoder, squares_dataset, single_thread):
    import pytest

    from blackbox_saliency.errors import InputError

    masker = SaliencyMasker(3, encoder=toy_encoder, preset="fast", encoder_pretrained=False, upsampler_channels=(8,))
    config = TrainConfig(classifier="toy", data="toy", out=str(tmp_path / "run"), steps=2, batch_size=8, progress=False,
                         device="cpu", checkpoint_every=0, val_every=0, log_every=1)
    train(config, classifier=toy_blackbox, masker=masker, train_data=squares_dataset(16, 0))
    assert conventions.input_checks_enabled()
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        masker.eval()(torch.full((1, 3, 32, 32), 2.0), torch.tensor([0]))
