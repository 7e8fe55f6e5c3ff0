"""CIFAR-10 ResNet-20/56 black boxes: real accuracy on the shared test subset, architecture, weight errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

from blackbox_saliency.classifiers.cifar_resnet import (
    FEATURE_NODES,
    WEIGHT_FILES,
    CifarResNet,
    CifarResNetClassifier,
    ShortcutA,
    classifier_head,
)
from blackbox_saliency.errors import CheckpointError, DataNotFoundError, InputError


@pytest.fixture(scope="module")
def test2k(data_dir):
    data = np.load(data_dir / "cifar10" / "cifar10_test2k.npz")
    images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2).float() / 255
    return images, torch.from_numpy(data["labels"]), [str(c) for c in data["classes"]]


@pytest.fixture(scope="module")
def resnet20(data_dir):
    return CifarResNetClassifier(depth=20)


def _accuracy(model, images, labels) -> float:
    with torch.inference_mode():
        predictions = torch.cat([model(batch).argmax(1) for batch in images.split(250)])
    return (predictions == labels).float().mean().item()


def test_resnet20_accuracy_on_real_test_images(resnet20, test2k):
    """Every 4th image (rows are grouped by class, so 50 per class); README: 90.35% on all 2,000."""
    images, labels, _ = test2k
    start = time.perf_counter()
    accuracy = _accuracy(resnet20, images[::4], labels[::4])
    print(f"\nResNet-20 on 500 of cifar10_test2k: {accuracy:.2%} ({time.perf_counter() - start:.1f}s)")
    assert accuracy >= 0.87


def test_resnet56_loads_strictly_and_classifies(test2k):
    images, labels, _ = test2k
    model = CifarResNetClassifier(depth=56)
    assert len(model.network.layer1) == 9
    accuracy = _accuracy(model, images[::10], labels[::10])
    print(f"\nResNet-56 on 200 of cifar10_test2k: {accuracy:.2%}")
    assert accuracy >= 0.87


def test_class_names_follow_the_data(resnet20, test2k):
    assert resnet20.class_names == test2k[2]
    assert resnet20.class_index("truck") == 9


def test_batched_float64_gradients_and_resize(resnet20, test2k):
    images = test2k[0][:3].double()
    big = torch.nn.functional.interpolate(images, size=(64, 64), mode="nearest")  # exact 2x upscale
    big.requires_grad_(True)
    logits = resnet20(big)
    assert logits.shape == (3, 10) and logits.dtype == torch.float64
    # the classifier resizes 64x64 back to 32x32 (antialiased bilinear): close to the originals
    with torch.no_grad():
        direct = resnet20(images)
    assert (logits.argmax(1) == direct.argmax(1)).all()
    logits[:, 0].sum().backward()
    assert big.grad is not None and big.grad.abs().sum() > 0
    single = torch.cat([resnet20(image[None]) for image in images])
    torch.testing.assert_close(single, direct, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(3, 32, 32), "4 dimensions"),
        (torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8), "floating-point"),
        (torch.rand(1, 3, 32, 32) + 1.0, "[0, 1]"),
        (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
    ],
)
def test_bad_input_is_rejected(bad, message):
    model = CifarResNetClassifier(pretrained=False)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        model(bad)


def test_rounding_just_above_one_is_accepted():
    model = CifarResNetClassifier(pretrained=False)
    assert model(torch.full((1, 3, 32, 32), 1.0 + 1e-6)).shape == (1, 10)


def test_feature_nodes_and_head():
    model = CifarResNetClassifier(depth=20, pretrained=False)
    assert model.head is model.network.linear is classifier_head(model.network)
    nodes = {"stem_act": 16} | {name: channels for name, channels in FEATURE_NODES.values()}
    extractor = create_feature_extractor(model.network, list(nodes))
    with torch.no_grad():
        feats = extractor(torch.rand(2, 3, 32, 32))
    assert feats["stem_act"].shape == (2, 16, 32, 32)
    for stride, (name, channels) in FEATURE_NODES.items():
        assert feats[name].shape == (2, channels, 32 // stride, 32 // stride)


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.arange(2 * 16 * 4 * 4, dtype=torch.float32).view(2, 16, 4, 4)
    out = ShortcutA(2, 8)(x)
    assert out.shape == (2, 32, 2, 2)
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0
    torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2])
    assert sum(p.numel() for p in CifarResNet(20).parameters()) == 269_722  # 0.27M, as the README says


def test_eval_transform_squashes_to_32():
    model = CifarResNetClassifier(pretrained=False)
    out = model.eval_transform()(Image.new("RGB", (100, 60), color=(255, 0, 0)))
    assert out.shape == (3, 32, 32)
    torch.testing.assert_close(out[:, 5, 5], torch.tensor([1.0, 0.0, 0.0]))


def test_plain_state_dict_and_module_prefix_load(tmp_path, resnet20):
    state = resnet20.network.state_dict()
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "prefixed.th")
    torch.save(state, tmp_path / "plain.th")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        for name in ("prefixed.th", "plain.th"):
            torch.testing.assert_close(CifarResNetClassifier(weights_path=tmp_path / name)(x), resnet20(x))


def test_corrupt_weights_raise_checkpoint_error(tmp_path):
    path = tmp_path / "resnet20.th"
    path.write_bytes(b"PK\x03\x04 truncated zip" * 4)
    with pytest.raises(CheckpointError, match="resnet20.th"):
        CifarResNetClassifier(weights_path=path)


def test_weights_of_another_depth_raise_checkpoint_error(data_dir):
    with pytest.raises(CheckpointError, match="ResNet-20"):
        CifarResNetClassifier(depth=20, weights_path=data_dir / WEIGHT_FILES[56])


def test_missing_weights_and_bad_depth(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="absent.th"):
        CifarResNetClassifier(weights_path=tmp_path / "absent.th")
    with pytest.raises(InputError, match="6n\\+2"):
        CifarResNetClassifier(depth=21, pretrained=False)
    with pytest.raises(InputError, match="no pretrained weights"):
        CifarResNetClassifier(depth=32)
    monkeypatch.setenv("BLACKBOX_SALIENCY_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="BLACKBOX_SALIENCY_DATA"):
        CifarResNetClassifier(depth=20)
