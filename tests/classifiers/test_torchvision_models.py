"""TorchvisionClassifier: building, names, errors, and the weights-metadata path (without downloading)."""

from __future__ import annotations

import pytest
import torch
import torchvision.models
from PIL import Image

from blackbox_saliency.classifiers.names import imagenet_class_names
from blackbox_saliency.classifiers.torchvision_models import TorchvisionClassifier, classification_model_names
from blackbox_saliency.errors import InputError, PluginError


@pytest.fixture(scope="module")
def resnet18():
    return TorchvisionClassifier("resnet18")


def test_random_init_defaults(resnet18):
    assert resnet18.input_size == (224, 224) and resnet18.num_classes == 1000
    assert resnet18.class_names == imagenet_class_names()
    assert resnet18.head is resnet18.network.fc
    assert not resnet18.network.training


def test_forward_resizes_keeps_dtype_and_passes_gradients(resnet18):
    images = torch.rand(2, 3, 97, 130, dtype=torch.float64, requires_grad=True)
    logits = resnet18(images)
    assert logits.shape == (2, 1000) and logits.dtype == torch.float64
    logits[:, 3].sum().backward()
    assert images.grad.abs().sum() > 0
    assert all(p.grad is None for p in resnet18.parameters())


def test_rejects_normalised_input(resnet18):
    with pytest.raises(InputError, match="normalised"):
        resnet18(torch.randn(1, 3, 224, 224))


def test_custom_classes():
    model = TorchvisionClassifier("mobilenet_v3_small", num_classes=3)
    assert model.class_names == ["class_0", "class_1", "class_2"]
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 3)
    named = TorchvisionClassifier("squeezenet1_1", class_names=["cat", "dog"])
    assert named.num_classes == 2 and named.class_index("dog") == 1
    assert named.head is None  # squeezenet classifies with a 1x1 conv, no Linear
    with pytest.raises(InputError, match="class_names"):
        TorchvisionClassifier("resnet18", num_classes=3, class_names=["a", "b"])


def test_unknown_model_lists_close_matches():
    with pytest.raises(PluginError, match="resnet50"):
        TorchvisionClassifier("resnet5O")
    assert "resnet18" in classification_model_names()


def test_bad_weights_are_explained():
    with pytest.raises(InputError, match="IMAGENET1K_V1"):
        TorchvisionClassifier("resnet18", weights="IMAGENET_V9")
    with pytest.raises(InputError, match="another model"):
        TorchvisionClassifier("resnet18", weights=torchvision.models.ResNet50_Weights.DEFAULT)
    with pytest.raises(InputError, match="num_classes"):
        TorchvisionClassifier("resnet18", weights="DEFAULT", num_classes=10)


def test_weights_metadata_sets_size_normalisation_and_names(monkeypatch):
    """The download itself is torchvision's; here get_model is replaced so no network access is needed."""
    calls = []
    real_get_model = torchvision.models.get_model

    def offline_get_model(name, weights=None, **kwargs):
        calls.append(weights)
        return real_get_model(name, weights=None, init_weights=False, aux_logits=True)

    monkeypatch.setattr(torchvision.models, "get_model", offline_get_model)
    weights = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1
    model = TorchvisionClassifier("inception_v3", weights="Inception_V3_Weights.DEFAULT")
    assert calls == [weights]
    assert model.input_size == (299, 299)
    assert model.class_names == list(weights.meta["categories"])
    torch.testing.assert_close(model.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    out = model.eval_transform()(Image.new("RGB", (600, 400)))
    assert out.shape == (3, 299, 299)


def test_eval_transform_default(resnet18):
    photo = Image.new("RGB", (500, 375), color=(0, 255, 0))
    out = resnet18.eval_transform()(photo)
    assert out.shape == (3, 224, 224) and float(out[1].min()) == 1.0 and float(out[0].max()) == 0.0
