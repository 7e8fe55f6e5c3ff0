"""The class-activation prior of the masking model: step 0 is the encoder's own CAM, training refines it."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency import load_classifier, load_masker
from blackbox_saliency.baselines.cam import CamMasker
from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.maskers.checkpoint import load_masker_checkpoint, save_masker
from blackbox_saliency.maskers.decoder import MaskHead, ResidualHead
from blackbox_saliency.maskers.prior import ClassPrior
from blackbox_saliency.metrics.boxes import mask_to_box


@pytest.fixture(scope="module")
def lite0():
    """The real EfficientNet-Lite0 black box and an untrained prior masker on its own network."""
    classifier = load_classifier("efficientnet_lite0").eval()
    masker = SaliencyMasker(1000, encoder="efficientnet_lite0", preset="fast", class_prior=True).eval()
    return classifier, masker


@pytest.fixture(scope="module")
def photos(chelsea, lite0):
    """Real photos as the evaluation shows them: the whole photo resized to 224 x 224 (chelsea, coffee, astronaut)."""
    skimage_data = pytest.importorskip("skimage.data")
    images = [chelsea[0]] + [
        torch.from_numpy(f()).permute(2, 0, 1).float() / 255 for f in (skimage_data.coffee, skimage_data.astronaut)
    ]
    return torch.stack(
        [
            torch.nn.functional.interpolate(im[None], size=(224, 224), mode="bilinear", antialias=True)[0]
            for im in images
        ]
    )


def test_untrained_masker_is_exactly_the_prior(lite0, photos):
    classifier, masker = lite0
    classes = classifier(photos).argmax(dim=1)
    with torch.no_grad():
        out = masker.forward_train(photos, classes)
        features = masker.encode(photos)
        expected = torch.sigmoid(masker.prior(features[-1], classes, tuple(out.masks.shape[-2:])))
    torch.testing.assert_close(out.masks, expected)
    assert isinstance(masker.decoder.head, ResidualHead)
    assert float(masker.decoder.head.conv.weight.detach().abs().sum()) == 0.0


def test_step_zero_boxes_are_the_cam_baselines(lite0, photos):
    """Untrained, the masker gives the boxes of the 'cam' baseline normalised by the strongest class (within a mask
    pixel)."""
    classifier, masker = lite0
    with torch.no_grad():
        classes = classifier(photos).argmax(dim=1)
        ours = mask_to_box(masker(photos, classes), 0.5)
        level = float(-masker.prior.offset / masker.prior.log_scale.exp())  # the prior's value at the mask's 0.5 level
        cam = mask_to_box(CamMasker(classifier, normalise="all", floor=masker.prior.floor)(photos, classes), level)
    assert (ours - cam).abs().max() <= masker.mask_stride, f"{ours.tolist()} vs {cam.tolist()}"
    assert bool(((ours[:, 2] - ours[:, 0]) < 224).any()), (
        "the prior must select a region on these photos, not the whole image"
    )


def test_fake_selectors_get_dim_masks(lite0, photos):
    classifier, masker = lite0
    with torch.no_grad():
        true = classifier(photos).argmax(dim=1)
        generator = torch.Generator().manual_seed(0)
        fakes = torch.randint(0, 1000, (8, photos.shape[0]), generator=generator)
        own = masker(photos, true)
        fake_means = torch.stack([masker(photos, f).mean(dim=(1, 2, 3)) for f in fakes if bool((f != true).all())])
    assert float(fake_means.mean()) <= 0.05, f"fake selectors' mean mask {float(fake_means.mean()):.3f}"
    assert float(own.mean()) > 2 * float(fake_means.mean())


def test_prior_and_residual_learn(lite0, photos):
    _, masker = lite0
    masker = SaliencyMasker(1000, encoder="efficientnet_lite0", preset="fast", class_prior=True)
    masker.load_state_dict(lite0[1].state_dict())
    out = masker.forward_train(photos[:1], torch.tensor([281]))
    out.masks.mean().backward()
    names = {name for name, p in masker.named_parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0}
    assert {"prior.log_scale", "prior.offset", "decoder.head.conv.bias"} <= names
    assert not any(name.startswith("encoder.") for name in names)
    assert {id(p) for p in masker.prior.parameters()} <= {id(p) for p in masker.trainable_parameters()}


def test_falls_back_to_the_paper_head_without_a_matching_encoder_head():
    masker = SaliencyMasker(10, encoder="efficientnet_lite0", encoder_pretrained=False, preset="fast", class_prior=True)
    assert masker.prior is None and masker.config["class_prior"] is False
    assert isinstance(masker.decoder.head, MaskHead)
    masks = masker(torch.rand(1, 3, 64, 64), torch.tensor([3]))
    assert masks.shape == (1, 1, 64, 64)


def test_default_masker_has_no_prior_so_old_checkpoints_keep_their_architecture():
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast")
    assert masker.prior is None and masker.config["class_prior"] is False


def test_old_checkpoint_without_the_prior_option_loads(tmp_path):
    """A masker.pt written before the prior existed has no ``class_prior`` in its config: it loads as the paper head."""
    masker = SaliencyMasker(10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast")
    path = save_masker(tmp_path / "old.pt", masker)
    payload = torch.load(path, weights_only=True)
    for key in ("class_prior", "prior_scale", "prior_offset"):
        payload["config"].pop(key)
    torch.save(payload, path)
    loaded = load_masker_checkpoint(path)
    assert loaded.prior is None
    images, classes = torch.rand(2, 3, 32, 32), torch.tensor([1, 2])
    torch.testing.assert_close(loaded(images, classes), masker.eval()(images, classes))


def test_prior_masker_round_trips_with_its_learnt_scale_and_offset(tmp_path):
    masker = SaliencyMasker(
        10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast", class_prior=True
    ).eval()
    assert masker.prior is not None
    with torch.no_grad():
        masker.prior.offset.fill_(-3.0)
        masker.decoder.head.conv.weight.normal_(0, 0.1)
    loaded = load_masker_checkpoint(save_masker(tmp_path / "prior.pt", masker))
    assert loaded.prior is not None and float(loaded.prior.offset) == -3.0
    images, classes = torch.rand(2, 3, 32, 32), torch.tensor([1, 2])
    torch.testing.assert_close(loaded(images, classes), masker(images, classes))


def test_shipped_pre_prior_masker_still_loads():
    masker = load_masker("cifar10_resnet20")
    assert masker(torch.rand(1, 3, 32, 32), torch.tensor([0])).shape == (1, 1, 32, 32)


def test_bad_prior_settings_are_clear_errors():
    with pytest.raises(InputError, match="prior_scale"):
        SaliencyMasker(
            10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast", class_prior=True, prior_scale=0.0
        )
    with pytest.raises(InputError, match="prior_offset"):
        SaliencyMasker(
            10,
            encoder="cifar10_resnet20",
            encoder_pretrained=False,
            preset="fast",
            class_prior=True,
            prior_offset=float("nan"),
        )
    with pytest.raises(InputError, match="head weight"):
        ClassPrior(torch.zeros(3))


def test_two_classes_of_one_photo_get_different_masks(lite0, photos):
    """``--topk 2``: the masks of the black box's two best classes of a photo are not one class-agnostic mask."""
    classifier, masker = lite0
    with torch.no_grad():
        top2 = classifier(photos).topk(2, dim=1).indices
        first, second = masker(photos, top2[:, 0]), masker(photos, top2[:, 1])
    difference = (first - second).abs().mean(dim=(1, 2, 3))
    assert bool((difference > 0.01).all()), difference.tolist()


def test_the_normalisation_floor_spans_plain_cam_to_the_strongest_class():
    """floor 0: each class scaled to its own peak (the 'cam' baseline); floor 1: to the strongest class's peak; between:
    a class reaching the floor keeps its own scale and a weaker one stays dim."""
    weight = torch.eye(2)
    features = torch.zeros(1, 2, 1, 2)
    features[0, 0, 0, 0] = 4.0  # class 0 peaks at 4
    features[0, 1, 0, 1] = 1.5  # class 1 peaks at 1.5 (0.375 of the strongest)
    classes = torch.tensor([1])

    def peak(floor):
        return float(ClassPrior(weight, floor=floor).normalised(features, classes).max())

    assert peak(0.0) == 1.0 and peak(1.0) == 0.375
    assert peak(0.25) == 1.0  # 0.375 >= 0.25: its own scale
    assert peak(0.5) == 0.75  # 1.5 / (0.5 * 4)
    with pytest.raises(InputError, match="floor"):
        ClassPrior(weight, floor=1.5)
