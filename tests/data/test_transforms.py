"""Photo transforms: one crop constant, one centre crop for classifiers, training and evaluation; the augmentation
builder."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from blackbox_saliency.classifiers import transforms as classifier_transforms
from blackbox_saliency.data import transforms
from blackbox_saliency.data.transforms import CROP_FRACTION, build_transform, center_crop
from blackbox_saliency.errors import InputError
from blackbox_saliency.evaluation import datasets as evaluation_datasets
from blackbox_saliency.training import data as training_data


def _photo(size=(500, 375)):
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (size[1], size[0], 3), generator=generator, dtype=torch.uint8)
    return Image.fromarray(pixels.numpy())


def test_the_crop_constant_is_one_object():
    assert CROP_FRACTION == 0.875
    assert classifier_transforms.CROP_FRACTION is CROP_FRACTION
    assert evaluation_datasets.CROP_FRACTION is CROP_FRACTION
    assert training_data.build_transform is build_transform and training_data.AUGMENTATIONS is transforms.AUGMENTATIONS


def test_center_crop_geometry():
    steps = center_crop((224, 224)).transforms
    assert steps[0].size == [256] and list(steps[1].size) == [224, 224]
    assert center_crop(32).transforms[0].size == [37] and center_crop((200, 300)).transforms[0].size == [229]
    assert center_crop(224, resize_size=232).transforms[0].size == [232]
    assert center_crop((224, 224))(_photo()).size == (224, 224)


def test_classifier_training_and_evaluation_crops_agree():
    photo = _photo()
    classifier = classifier_transforms.center_crop_transform((64, 64))(photo)
    training = build_transform(64, train=False)(photo)
    assert classifier.dtype == training.dtype == torch.float32 and type(classifier) is type(training) is torch.Tensor
    # same geometry; training resizes the tensor (ToImage first), the classifier the PIL image: resampling differs
    # a little
    torch.testing.assert_close(training, classifier, atol=3 / 255, rtol=0)
    sizes = [
        (t.size, getattr(t, "interpolation", None))
        for t in training_data.build_transform(64, train=False).transforms[1:3]
    ]
    assert sizes == [
        (t.size, getattr(t, "interpolation", None))
        for t in classifier_transforms.center_crop_transform(64).transforms[1:3]
    ]
    view = center_crop((64, 64))(photo)
    assert torch.equal(
        v2.functional.to_dtype(v2.functional.to_image(view), torch.float32, scale=True).as_subclass(torch.Tensor),
        classifier,
    )


def test_build_transform_options():
    photo = _photo((80, 60))
    assert build_transform(32, train=True, augment="heavy")(photo).shape == (3, 32, 32)
    arrays = build_transform(16, train=False, photos=False)(torch.zeros(3, 8, 10, dtype=torch.uint8))
    assert arrays.shape == (3, 16, 16)
    for kwargs, message in (
        ({"augment": "wild"}, "augment"),
        ({"image_size": 4}, "image_size"),
        ({"crop_scale": (0.5, 0.2)}, "crop_scale"),
    ):
        with pytest.raises(InputError, match=message):
            build_transform(**{"image_size": 32, "train": True, **kwargs})
