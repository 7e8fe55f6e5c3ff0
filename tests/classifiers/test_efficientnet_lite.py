"""EfficientNet-Lite0 black box: real ImageNet accuracy, feature nodes, input handling, weight errors."""

from __future__ import annotations

import time

import pytest
import torch
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

from blackbox_saliency.classifiers.efficientnet_lite import (
    FEATURE_NODES,
    EfficientNetLite0,
    EfficientNetLite0Classifier,
    SamePad2d,
    default_weights_path,
    shipped_key_map,
)
from blackbox_saliency.data.imagenet import read_val_dev
from blackbox_saliency.errors import CheckpointError, DataNotFoundError, InputError

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat


@pytest.fixture(scope="module")
def model():
    return EfficientNetLite0Classifier()


def test_val_dev_top1_matches_reference(model, data_dir):
    """Top-1 on the 200 real val_dev images with resize-256 / crop-224 (README reference: 143/200 = 71.5%)."""
    items = read_val_dev(data_dir / "imagenet")
    transform = model.eval_transform()
    start = time.perf_counter()
    images = torch.stack([transform(Image.open(path)) for path, _ in items])
    labels = torch.tensor([label for _, label in items])
    decoded = time.perf_counter()
    network_layout = model.network.to(memory_format=torch.channels_last)  # faster depthwise convs on CPU
    try:
        with torch.inference_mode():
            logits = torch.cat(
                [model(batch.contiguous(memory_format=torch.channels_last)) for batch in images.split(50)]
            )
    finally:
        network_layout.to(memory_format=torch.contiguous_format)
    top1 = (logits.argmax(1) == labels).float().mean().item()
    top5 = (logits.topk(5, dim=1).indices == labels[:, None]).any(1).float().mean().item()
    print(
        f"\nEfficientNet-Lite0 val_dev: top-1 {top1:.1%} top-5 {top5:.1%} on {len(items)} images "
        f"(decode {decoded - start:.1f}s, forward {time.perf_counter() - decoded:.1f}s)"
    )
    assert images.shape == (200, 3, 224, 224)
    assert top1 >= 0.68
    assert top5 >= 0.88


def test_chelsea_is_a_cat_from_a_non_224_input(model, chelsea):
    assert chelsea.shape[-2:] != (224, 224)  # the classifier has to resize it
    with torch.inference_mode():
        probs = model(chelsea).softmax(1)[0]
    top = int(probs.argmax())
    assert top in CAT_CLASSES, f"top class {top} ({model.class_names[top]})"
    assert probs[top] > 0.3


def test_batched_equals_single_and_float64_keeps_dtype(model, chelsea):
    images = torch.cat([chelsea, chelsea.flip(-1) * 0.5])
    with torch.inference_mode():
        batched = model(images)
        single = torch.cat([model(image[None]) for image in images])
        double = model(images.double())
    assert batched.shape == (2, 1000) and batched.dtype == torch.float32 and batched.device == images.device
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=1e-4)
    assert double.dtype == torch.float64
    torch.testing.assert_close(double.float(), batched, atol=1e-3, rtol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to check that outputs stay on it")
def test_output_stays_on_cuda(chelsea):
    model = EfficientNetLite0Classifier().cuda()
    logits = model(chelsea.cuda())
    assert logits.device.type == "cuda"
    assert model.class_names[int(logits.argmax())] in {model.class_names[i] for i in CAT_CLASSES}


def test_gradients_reach_the_input_but_not_the_weights(model):
    images = torch.rand(2, 3, 96, 128, requires_grad=True)
    model(images)[:, 281].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_stays_in_eval_mode_when_parent_trains(model):
    parent = torch.nn.ModuleDict({"box": model})
    parent.train()
    try:
        assert not model.network.training
        assert not any(p.requires_grad for p in model.parameters())
    finally:
        parent.eval()


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(3, 224, 224), "4 dimensions"),
        (torch.randint(0, 255, (1, 3, 224, 224), dtype=torch.uint8), "floating-point"),
        (torch.rand(1, 3, 224, 224) * 255, "[0, 1]"),
        (torch.full((1, 3, 224, 224), float("nan")), "NaN"),
        (torch.rand(1, 224, 224, 3), "channels"),
    ],
)
def test_bad_input_is_rejected(model, bad, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        model(bad)


def test_key_map_covers_the_shipped_checkpoint_exactly():
    shipped = torch.load(default_weights_path(), map_location="cpu", weights_only=True)
    mapping = shipped_key_map()
    assert set(mapping) == set(shipped)
    assert set(mapping.values()) == set(EfficientNetLite0().state_dict())


def test_head_and_feature_nodes(model):
    assert model.head is model.network.fc
    assert (model.head.in_features, model.head.out_features) == (1280, 1000)
    nodes = model.feature_nodes()
    assert nodes == FEATURE_NODES and sorted(nodes) == [2, 4, 8, 16, 32]
    extractor = create_feature_extractor(model.network, {name: str(stride) for stride, (name, _) in nodes.items()})
    with torch.no_grad():
        for size in [(64, 64), (65, 47)]:  # odd sizes too: SAME padding is computed at run time
            feats = extractor(torch.rand(1, 3, *size))
            for stride, (_, channels) in nodes.items():
                expected = tuple(-(-s // stride) for s in size)  # ceil, as TensorFlow SAME padding gives
                assert feats[str(stride)].shape == (1, channels, *expected)


@pytest.mark.parametrize("size", [7, 8, 224, 225])
@pytest.mark.parametrize("kernel", [3, 5])
def test_same_padding_follows_tensorflow(size, kernel):
    padded = SamePad2d(kernel, 2)(torch.ones(1, 1, size, size))
    total = padded.shape[-1] - size
    assert total == max((-(-size // 2) - 1) * 2 + kernel - size, 0)
    # TensorFlow puts the smaller half first: count zero rows/columns before and after
    assert padded[0, 0, 0, : total // 2].sum() == 0 and padded[0, 0, size // 2, : total // 2].sum() == 0
    assert padded[0, 0, size // 2, total // 2] == 1
    assert padded[0, 0, size // 2, -(total - total // 2) - 1] == 1


def test_class_names_match_the_synsets(model, data_dir):
    lines = (data_dir / "imagenet" / "synsets.txt").read_text().splitlines()
    assert model.class_names == [line.split(" ", 1)[1].split(",")[0].strip() for line in lines]
    assert model.class_index("tabby") == 281


def test_eval_transform_handles_any_photo(model):
    out = model.eval_transform()(Image.new("L", (500, 375), color=128))
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    assert torch.allclose(out, torch.full_like(out, 128 / 255))


def test_random_init_without_weights():
    model = EfficientNetLite0Classifier(pretrained=False)
    shipped = EfficientNetLite0Classifier()
    assert not torch.equal(model.head.weight, shipped.head.weight)


def test_corrupt_weights_raise_checkpoint_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"\x80\x02 this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="broken.pth"):
        EfficientNetLite0Classifier(weights_path=path)


def test_weights_of_another_shape_raise_checkpoint_error(tmp_path):
    state = EfficientNetLite0().state_dict()
    del state["fc.bias"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="fc.bias"):
        EfficientNetLite0Classifier(weights_path=tmp_path / "partial.pth")


def test_missing_weights_raise_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="nowhere.pth"):
        EfficientNetLite0Classifier(weights_path=tmp_path / "nowhere.pth")


def test_own_naming_round_trips(tmp_path):
    source = EfficientNetLite0Classifier(pretrained=False)
    torch.save(source.network.state_dict(), tmp_path / "ours.pth")
    loaded = EfficientNetLite0Classifier(weights_path=tmp_path / "ours.pth")
    images = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), source(images))
