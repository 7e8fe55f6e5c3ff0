"""The SaliencyMasker: shapes, value range, gradients, class dependence."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.errors import InputError
from blackbox_saliency.interfaces import Masker
from blackbox_saliency.maskers import SaliencyMasker

ENCODERS = {
    "resnet18": dict(num_classes=1000, sizes=[(224, 224), (160, 128), (97, 131)], stride=4),
    "efficientnet_lite0": dict(num_classes=1000, sizes=[(96, 96), (97, 131)], stride=4),
    "cifar10_resnet20": dict(num_classes=10, sizes=[(32, 32), (29, 35)], stride=1),
}


@pytest.fixture(scope="module")
def maskers():
    return {
        name: SaliencyMasker(spec["num_classes"], encoder=name, encoder_pretrained=False, preset="fast").eval()
        for name, spec in ENCODERS.items()
    }


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("batch", [1, 3])
def test_mask_shapes_and_range(maskers, encoder, batch):
    masker = maskers[encoder]
    spec = ENCODERS[encoder]
    assert isinstance(masker, Masker) and masker.mask_stride == spec["stride"]
    sizes = spec["sizes"] if batch == 1 else spec["sizes"][1:]  # keep the big 224 px case to batch 1
    for h, w in sizes:
        images = torch.rand(batch, 3, h, w)
        classes = torch.randint(0, spec["num_classes"], (batch,))
        with torch.no_grad():
            low = masker.forward_train(images, classes)
            masks = masker(images, classes)
        assert masks.shape == (batch, 1, h, w) and masks.dtype == torch.float32
        assert low.masks.shape == (batch, 1, -(-h // spec["stride"]), -(-w // spec["stride"]))
        assert low.class_scores.shape == (batch,)
        for m in (masks, low.masks):
            assert torch.isfinite(m).all() and float(m.min()) >= 0.0 and float(m.max()) <= 1.0


def test_batch_elements_are_independent_in_eval_mode(maskers):
    masker = maskers["resnet18"]
    images, classes = torch.rand(3, 3, 64, 64), torch.tensor([5, 9, 700])
    with torch.no_grad():
        together = masker(images, classes)
        alone = masker(images[1:2], classes[1:2])
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=1e-5)


def test_mask_depends_on_the_class_selector(maskers):
    masker = maskers["resnet18"]
    images = torch.rand(1, 3, 64, 64).repeat(2, 1, 1, 1)
    with torch.no_grad():
        masks = masker(images, torch.tensor([3, 600]))
    assert (masks[0] - masks[1]).abs().max() > 1e-4


def test_gradients_reach_decoder_and_embedding_never_the_encoder():
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast").train()
    assert not masker.encoder.training  # frozen encoder stays in eval mode
    out = masker.forward_train(torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
    (out.masks.mean() + out.class_scores.sum()).backward()
    assert all(p.grad is None and not p.requires_grad for p in masker.encoder.parameters())
    trainable = list(masker.trainable_parameters())
    assert {id(p) for p in trainable} == {id(p) for p in masker.parameters() if p.requires_grad}
    assert masker.filter.embedding.weight.grad is not None and masker.filter.embedding.weight.grad.abs().sum() > 0
    decoder_grads = [p.grad for p in masker.decoder.parameters()]
    assert all(g is not None for g in decoder_grads) and sum(float(g.abs().sum()) for g in decoder_grads) > 0


def test_gradients_never_reach_the_black_box():
    from blackbox_saliency.classifiers.cifar_resnet import CifarResNetClassifier
    from blackbox_saliency.objective import SaliencyObjective

    box = CifarResNetClassifier(depth=20, pretrained=False)
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast").train()
    images, classes = torch.rand(2, 3, 32, 32), torch.tensor([1, 7])
    masks = masker(images, classes)
    SaliencyObjective(box)(images, masks, classes).total.sum().backward()
    assert all(p.grad is None for p in box.parameters())
    assert all(p.grad is None for p in masker.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in masker.decoder.parameters())


def test_encode_once_decode_for_several_classes(maskers):
    masker = maskers["resnet18"]
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        feats = masker.encode(images)
        a = masker.forward_train(images, torch.tensor([1, 2]), features=feats)
        b = masker.forward_train(images, torch.tensor([1, 2]))
    torch.testing.assert_close(a.masks, b.masks)
    torch.testing.assert_close(a.class_scores, b.class_scores)


def test_embedding_from_encoder_head():
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast")
    masker.init_embedding_from_encoder_head()
    torch.testing.assert_close(masker.filter.embedding.weight.detach(), masker.encoder.head_weight)
    wrong = SaliencyMasker(7, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast")
    with pytest.raises(InputError, match="10 classes"):
        wrong.init_embedding_from_encoder_head()


def test_config_rebuilds_the_same_architecture():
    masker = SaliencyMasker(
        10, encoder="cifar10_resnet20", preset="paper", encoder_pretrained=False, classifier_name="cifar10_resnet20"
    )
    assert masker.config["upsampler_channels"] == [768, 384]  # capped at (scales - 1) blocks
    again = SaliencyMasker(**masker.config)
    assert again.config == masker.config
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in masker.state_dict().items()}


def test_input_size_resizes_before_the_encoder():
    masker = SaliencyMasker(
        10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast", input_size=(32, 32)
    ).eval()
    images = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        assert masker.forward_train(images, torch.tensor([0, 1])).masks.shape == (2, 1, 32, 32)
        assert masker(images, torch.tensor([0, 1])).shape == (2, 1, 64, 80)


@pytest.mark.parametrize(
    "images, classes, match",
    [
        (torch.rand(2, 3, 32, 32), torch.tensor([0, 1], dtype=torch.int32), "int64"),
        (torch.rand(2, 3, 32, 32), torch.tensor([0, 10]), "out of range"),
        (torch.rand(2, 3, 32, 32), torch.tensor([0]), "2 images"),
        (torch.rand(3, 32, 32), torch.tensor([0]), "4 dimensions"),
    ],
)
def test_bad_input_is_reported(images, classes, match):
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast")
    with pytest.raises(InputError, match=match):
        masker(images, classes)


def test_bad_constructor_arguments():
    with pytest.raises(InputError, match="num_classes"):
        SaliencyMasker(0, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast")
    with pytest.raises(InputError, match="unknown masker option"):
        SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast", channels=3)


def test_output_follows_the_input_dtype():
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast").eval()
    images = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        masks = masker(images, torch.tensor([1, 2]))
        ref = masker(images.float(), torch.tensor([1, 2]))
    assert masks.dtype == torch.float64
    torch.testing.assert_close(masks.float(), ref)


@pytest.mark.parametrize("gate_skips", [False, True])
def test_a_closed_class_gate_silences_the_skips_only_when_they_are_gated(gate_skips, monkeypatch):
    """With every gate closed (a class the image does not show), a skip-gated decoder sees only zeros,
    so its mask no longer depends on the image; the paper's decoder still reads the skips."""
    torch.manual_seed(0)
    masker = SaliencyMasker(
        5, encoder="resnet18", encoder_pretrained=False, preset="fast", feature_filter="relative", gate_skips=gate_skips
    ).eval()
    monkeypatch.setattr(masker.filter, "score_map", lambda features, classes: torch.full_like(features[:, :1], -60.0))
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        masks = masker(images, torch.tensor([1, 1]))
    same = torch.allclose(masks[0], masks[1], atol=1e-6)
    assert same == gate_skips
    assert masker.config["gate_skips"] is gate_skips
