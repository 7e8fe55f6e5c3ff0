"""bs.train_masker: a masker for your own model from Python, then explained with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import blackbox_saliency as bs
from blackbox_saliency.errors import InputError


def _photos(folder, n=6):
    rng = np.random.default_rng(0)
    for i in range(n):
        label = ("red", "green", "blue")[i % 3]
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(folder / label / f"{i}.png")


def test_wrap_a_torchvision_model_with_local_weights_then_train_and_explain(tmp_path, single_thread):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=3)
    torch.save(model.state_dict(), tmp_path / "weights.pth")  # "local weights": a state dict on disk
    model.load_state_dict(torch.load(tmp_path / "weights.pth", weights_only=True))
    box = bs.wrap(model, input_size=32, class_names=["red", "green", "blue"])
    _photos(tmp_path / "photos")
    result = bs.train_masker(box, tmp_path / "photos", steps=2, out=tmp_path / "run", preset="fast", batch_size=4,
                             encoder="resnet18", encoder_pretrained=False, val_every=0, progress=False, device="cpu",
                             image_size=32, num_workers=0)
    assert result.steps == 2 and result.masker_path.is_file()
    explained = bs.explain(torch.rand(1, 3, 32, 32), masker=result.masker, classifier=box)
    assert explained.masks.shape == (1, 1, 32, 32)


def test_unknown_options_are_refused():
    with pytest.raises(InputError, match=r"unknown training option\(s\) \['learning_rate'\]"):
        bs.train_masker("cifar10_resnet20", "x", learning_rate=0.1)
