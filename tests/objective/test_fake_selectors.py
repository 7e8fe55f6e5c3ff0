"""Fake class selectors get the area term only, and their images never reach the black box."""

from __future__ import annotations

import torch
from torch import nn

from blackbox_saliency.interfaces import BlackBoxClassifier
from blackbox_saliency.objective import SaliencyObjective


class CountingBlackBox(BlackBoxClassifier):
    """A small real network that records how many images each call saw."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                       nn.Linear(4, 5)), (16, 16), list("abcde"))
        self.seen: list[int] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen.append(int(images.shape[0]))
        return super().forward(images)


def _old_total(objective: SaliencyObjective, images, masks, classes, fake, alternative) -> torch.Tensor:
    """What the objective computed before: every image through the black box, fake terms zeroed afterwards."""
    terms = objective(images, masks, classes, alternative=alternative)
    real = (~fake).to(images.dtype)
    return terms.area + (terms.tv + terms.preserve + terms.destroy) * real


def test_black_box_sees_only_the_real_selectors_and_the_loss_is_unchanged():
    box = CountingBlackBox()
    objective = SaliencyObjective(box, tv_coef=2.0, area_coef=3.0)
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(8, 3, 16, 16, generator=generator)
    masks = torch.rand(8, 1, 4, 4, generator=generator, requires_grad=True)
    classes = torch.randint(0, 5, (8,), generator=generator)
    fake = torch.tensor([True, False, False, True, False, True, False, False])
    alternative = objective.remover(images, generator)

    box.seen.clear()
    new = objective(images, masks, classes, fake=fake, alternative=alternative)
    assert box.seen == [2 * 5]  # preserved + destroyed images of the 5 real selectors, one call
    box.seen.clear()
    old = _old_total(objective, images, masks, classes, fake, alternative)
    assert box.seen == [2 * 8]
    torch.testing.assert_close(new.total, old, rtol=1e-6, atol=1e-6)
    assert torch.equal(new.preserve[fake], torch.zeros(3)) and torch.equal(new.tv[fake], torch.zeros(3))
    # gradients equal too (what the trainer optimises)
    grad_new, = torch.autograd.grad(new.total.mean(), masks)
    grad_old, = torch.autograd.grad(old.mean(), masks)
    torch.testing.assert_close(grad_new, grad_old, rtol=1e-5, atol=1e-7)


def test_all_fake_batch_never_calls_the_black_box():
    box = CountingBlackBox()
    objective = SaliencyObjective(box)
    masks = torch.full((3, 1, 4, 4), 0.25)
    terms = objective(torch.rand(3, 3, 16, 16), masks, torch.tensor([0, 1, 2]), fake=torch.ones(3, dtype=torch.bool))
    assert box.seen == []
    torch.testing.assert_close(terms.total, torch.full((3,), 3.0 * 0.25))


def test_trainer_step_sends_only_real_selectors_to_the_black_box(tmp_path, monkeypatch):
    """Count black-box images over a short real training run: about (1 - fake_prob) of 2 x the images seen."""
    from blackbox_saliency.maskers import SaliencyMasker
    from blackbox_saliency.training import TrainConfig, train
    from tests.training.conftest import SquaresDataset, ToyBlackBox, register_toy_encoder

    box = ToyBlackBox()
    calls: list[int] = []
    original = type(box).forward
    monkeypatch.setattr(type(box), "forward", lambda self, x: (calls.append(int(x.shape[0])), original(self, x))[1])
    masker = SaliencyMasker(3, encoder=register_toy_encoder(), preset="fast", encoder_pretrained=False,
                            upsampler_channels=(16,))
    config = TrainConfig(classifier="toy", data="toy", out=str(tmp_path / "run"), steps=20, batch_size=16,
                         fake_prob=0.5, progress=False, device="cpu", checkpoint_every=0, val_every=0, log_every=10,
                         seed=3)
    train(config, classifier=box, masker=masker, train_data=SquaresDataset(256, 0))
    # reproduce the trainer's draws of fake selectors
    from blackbox_saliency.training.parts import Draws

    draws = Draws(config.seed, config.fake_prob, num_classes=3, rank=0, device=torch.device("cpu"))
    expected = []
    for step in range(20):
        _, fake = draws.selectors(torch.zeros(16, dtype=torch.long), step)
        if (~fake).any():
            expected.append(2 * int((~fake).sum()))
    assert calls == expected and sum(expected) < 2 * 16 * 20
