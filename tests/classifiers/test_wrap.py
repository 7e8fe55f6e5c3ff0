"""bs.wrap: a plain nn.Module (or a torchvision model with its weights' metadata) as a black box."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import blackbox_saliency as bs
from blackbox_saliency.errors import InputError


def test_torchvision_weights_give_size_normalisation_resize_and_names():
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    box = bs.wrap(torchvision.models.resnet18(), weights)
    assert box.input_size == (224, 224) and box.num_classes == 1000 and box.class_names[:2] == ["tench", "goldfish"]
    assert torch.allclose(box.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    from PIL import Image

    assert box.eval_transform()(Image.new("RGB", (500, 300))).shape == (3, 224, 224)


def test_a_plain_module_with_explicit_arguments_is_explained_in_three_lines():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    box = bs.wrap(model, input_size=32, class_names=["a", "b", "c"], mean=(0.5,) * 3, std=(0.25,) * 3)
    result = bs.explain(torch.rand(2, 3, 32, 32), masker="gradcam" if box.gradcam_layer else "center", classifier=box)
    assert result.masks.shape == (2, 1, 32, 32) and box(torch.rand(1, 3, 32, 32)).shape == (1, 3)
    assert not any(p.requires_grad for p in box.parameters())  # frozen
    assert bs.wrap(model).class_names == ["class_0", "class_1", "class_2"]  # from the last Linear layer


def test_bad_arguments_are_named():
    with pytest.raises(InputError, match="`model` must be a torch.nn.Module"):
        bs.wrap("resnet18")
    with pytest.raises(InputError, match="`weights` must be a torchvision weights member"):
        bs.wrap(nn.Linear(2, 2), "DEFAULT")
    with pytest.raises(InputError, match="`input_size`"):
        bs.wrap(nn.Linear(2, 2), input_size=(3, 3))


def test_torchvision_names_take_weights_after_an_at_sign(monkeypatch):
    from blackbox_saliency.classifiers import torchvision_models

    seen = {}
    real = torchvision_models.TorchvisionClassifier

    def fake(model_name, weights=None, **kwargs):
        seen.update(model=model_name, weights=weights)
        return real(model_name, weights=None)

    monkeypatch.setattr(torchvision_models, "TorchvisionClassifier", fake)
    box = bs.load_classifier("torchvision:resnet18@IMAGENET1K_V1")  # real use downloads them; here the call is checked
    assert (
        seen == {"model": "resnet18", "weights": "IMAGENET1K_V1"}
        and box.registered_name == "torchvision:resnet18@IMAGENET1K_V1"
    )
    with pytest.raises(InputError, match="names weights and `weights=` is given too"):
        bs.load_classifier("torchvision:resnet18@DEFAULT", weights=None)
