"""The trained maskers that ship inside the package (``blackbox_saliency/assets/maskers``).

These are quality checks of real trained weights on real, held-out images: the shipped masker must
explain the black box better than the paper's central-box baseline under the paper's saliency
metric, follow the class selector, and come with a model card. The files are part of the package,
so their absence is a failure, not a skip; only the held-out data may be missing (then the data
tests skip and say so).
"""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency import load_classifier, load_masker
from blackbox_saliency.baselines.boxes import CenterBoxMasker, FullMasker
from blackbox_saliency.baselines.cam import CamMasker
from blackbox_saliency.data import evenly_spaced
from blackbox_saliency.evaluation.datasets import collate, open_dataset
from blackbox_saliency.maskers.plugin import ASSETS_DIR, shipped_masker_paths
from blackbox_saliency.metrics import SourcePhotos, saliency_metric

SHIPPED = ("efficientnet_lite0", "cifar10_resnet20")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_masker_file_and_model_card_exist(name):
    paths = shipped_masker_paths()
    assert name in paths, f"{ASSETS_DIR / (name + '.pt')} is missing from the package"
    assert paths[name].stat().st_size < 30 * 2**20, "a shipped masker must stay under a few tens of MB"
    card = (ASSETS_DIR / f"{name}.md").read_text(encoding="utf-8")
    for heading in ("Trained on", "Black box", "Quality", "Speed", "Limits", "Command"):
        assert heading in card, f"the model card {name}.md lacks the section {heading!r}"


def _evenly_spaced(dataset, count: int):
    return collate([dataset[i] for i in evenly_spaced(len(dataset), count)])


def _metric(classifier, masker, batch, classes):
    with torch.no_grad():
        masks = masker(batch.images, classes)
    return saliency_metric(classifier, batch.images, masks, classes)


@pytest.fixture(scope="module")
def imagenet_models():
    masker = load_masker("efficientnet_lite0").eval()
    assert masker.classifier_name == "efficientnet_lite0"
    return masker, load_classifier("efficientnet_lite0").eval()


def _source_metric(classifier, masker, batch):
    """The saliency metric under the evaluation protocol: boxes found on the 224-px view, cut out of the original
    photos."""
    with torch.no_grad():
        masks = masker(batch.images, batch.labels)
    return saliency_metric(
        classifier, batch.images, masks, batch.labels, sources=SourcePhotos(batch.sources, batch.view_to_source)
    )


def test_imagenet_masker_beats_the_central_box_and_the_cam_baseline_on_held_out_photos(imagenet_models, data_dir):
    """val_dev was never trained on (the masker's prior offset was chosen on imagenet/sample and
    imagenet/train_extra)."""
    masker, classifier = imagenet_models
    batch = _evenly_spaced(open_dataset(data_dir / "imagenet" / "val_dev", size=classifier.input_size), 40)
    ours = _source_metric(classifier, masker, batch)
    central = _source_metric(classifier, CenterBoxMasker(), batch)
    cam = _source_metric(classifier, CamMasker(classifier), batch)
    assert ours.mean < central.mean - 0.3, f"shipped masker {ours.mean:.3f} vs central box {central.mean:.3f}"
    assert ours.mean < cam.mean, f"shipped masker {ours.mean:.3f} vs CAM {cam.mean:.3f}"


def test_imagenet_masker_beats_the_whole_image_and_selects_a_region(imagenet_models, data_dir):
    """What the shipped masker does achieve on held-out photos: smaller boxes that keep more evidence than the whole
    image."""
    masker, classifier = imagenet_models
    batch = _evenly_spaced(open_dataset(data_dir / "imagenet" / "val_dev", size=classifier.input_size), 40)
    ours = _metric(classifier, masker, batch, batch.labels)
    whole = _metric(classifier, FullMasker(), batch, batch.labels)
    assert ours.mean < whole.mean, f"shipped masker {ours.mean:.3f} vs whole image {whole.mean:.3f}"
    assert float(ours.area.mean()) < 0.85, "the masker must select a region, not the whole image"


def test_imagenet_masker_mask_shrinks_for_a_class_the_photo_does_not_show(imagenet_models, chelsea):
    """The paper's fake-selector behaviour on a real photo: the cat's own class keeps far more area."""
    masker, classifier = imagenet_models
    image = classifier.eval_transform()(chelsea[0])[None]
    with torch.no_grad():
        own = classifier(image).argmax(1)
        fake = torch.tensor([954])  # banana: nothing in the photo
        own_mask, fake_mask = masker(image, own), masker(image, fake)
    assert own_mask.shape == (1, 1, 224, 224)
    assert float(fake_mask.mean()) < 0.5 * float(own_mask.mean())
    assert float(fake_mask.mean()) <= 0.05


def test_cifar_masker_beats_the_central_box_on_the_test_split(data_dir):
    masker = load_masker("cifar10_resnet20").eval()
    classifier = load_classifier("cifar10_resnet20").eval()
    batch = _evenly_spaced(open_dataset(data_dir / "cifar10" / "cifar10_test2k.npz", size=classifier.input_size), 400)
    ours = _metric(classifier, masker, batch, batch.labels)
    central = _metric(classifier, CenterBoxMasker(), batch, batch.labels)
    assert ours.mean < central.mean - 0.1, f"shipped masker {ours.mean:.3f} vs central box {central.mean:.3f}"
