"""Evaluation data sets: ImageNet photos with boxes mapped into the crop, CIFAR npz files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from blackbox_saliency import DataNotFoundError, ImageReadError, InputError
from blackbox_saliency.classifiers.transforms import center_crop_transform
from blackbox_saliency.evaluation.datasets import NpzDataset, PhotoFolder, collate, open_dataset


def test_val_dev_views_are_the_whole_photo_resized_with_its_original(val_dev):
    sample = open_dataset(val_dev, size=(224, 224))[0]  # 500 x 375
    expected = v2.Resize((224, 224), antialias=True)(
        v2.functional.to_dtype(v2.functional.to_image(Image.open(val_dev / sample.name)), torch.float32, scale=True)
    )
    torch.testing.assert_close(
        sample.image, expected.as_subclass(torch.Tensor), atol=2 / 255, rtol=0
    )  # PIL vs tensor resampling
    assert sample.source.shape == (3, 375, 500)
    torch.testing.assert_close(sample.view_to_source, torch.tensor([500 / 224, 375 / 224, 0.0, 0.0]))
    # box (106, 0, 329, 354) exclusive, scaled into the view: nothing is clipped
    expected_box = torch.tensor([[106 * 224 / 500, 0.0, 329 * 224 / 500, 354 * 224 / 375]])
    torch.testing.assert_close(sample.boxes, expected_box, atol=1e-3, rtol=0)
    batch = collate([sample, open_dataset(val_dev, size=(224, 224))[1]])
    assert len(batch.sources) == 2 and batch.view_to_source.shape == (2, 4)


def test_val_dev_center_crop_view_is_the_classifiers_center_crop(val_dev):
    data = open_dataset(val_dev, size=(224, 224), view="center-crop")
    assert isinstance(data, PhotoFolder) and data.has_boxes and len(data) == 200
    sample = data[0]
    assert sample.name == "ILSVRC2012_val_00000801.JPEG" and sample.label == 969
    expected = center_crop_transform((224, 224))(Image.open(val_dev / sample.name))
    assert torch.equal(sample.image, expected)


def test_val_dev_boxes_follow_the_crop(val_dev):
    # ILSVRC2012_val_00000801: 500 x 375, box (106, 0, 328, 353) inclusive -> (106, 0, 329, 354) exclusive.
    # Resize the shorter side 375 -> 256: the width becomes int(500 * 256 / 375) = 341; crop 224 from
    # the left offset round((341 - 224) / 2) = 58 and the top offset 16; then clip to the crop.
    sample = open_dataset(val_dev, size=(224, 224), view="center-crop")[0]
    sx, sy = 341 / 500, 256 / 375
    expected = torch.tensor([[106 * sx - 58, 0.0, 329 * sx - 58, min(354 * sy - 16, 224.0)]])
    torch.testing.assert_close(sample.boxes, expected, atol=1e-3, rtol=0)


def test_index_csv_folder_has_labels_but_no_boxes(data_dir):
    folder = data_dir / "imagenet" / "sample"
    if not (folder / "index.csv").is_file():
        pytest.skip(f"{folder}/index.csv is missing")
    data = open_dataset(folder, size=(64, 64))
    sample = data[5]
    assert not data.has_boxes and data.has_labels and sample.boxes is None
    assert sample.label == 5 and sample.image.shape == (3, 64, 64)


def test_npz(cifar_npz):
    data = open_dataset(cifar_npz, size=(32, 32))
    assert isinstance(data, NpzDataset) and len(data) == 2000 and not data.has_boxes
    batch = collate([data[0], data[1999]])
    assert batch.images.shape == (2, 3, 32, 32) and batch.labels.tolist() == [0, 9] and batch.boxes is None
    assert float(batch.images.min()) >= 0 and float(batch.images.max()) <= 1


def test_bad_inputs(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        open_dataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="no photo"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not an .npz"):
        open_dataset(tmp_path / "notes.txt")
    np.savez(tmp_path / "wrong.npz", pictures=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="lacks the array"):
        open_dataset(tmp_path / "wrong.npz")
    np.savez(tmp_path / "floats.npz", images=np.zeros((2, 4, 4, 3), np.float32), labels=np.zeros(2))
    with pytest.raises(InputError, match="uint8"):
        open_dataset(tmp_path / "floats.npz")
    broken = tmp_path / "photos"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="a.jpg"):
        open_dataset(broken)[0]


def test_a_classifier_for_other_data_is_named_as_a_mismatch(tmp_path):
    from blackbox_saliency.errors import InputError
    from blackbox_saliency.evaluation import open_dataset

    np.savez(tmp_path / "d.npz", images=np.zeros((2, 8, 8, 3), np.uint8), labels=np.array([3, 998]))
    dataset = open_dataset(tmp_path / "d.npz", size=(8, 8))
    dataset.check_classifier(1000, "efficientnet_lite0")
    with pytest.raises(
        InputError, match="labels go up to class 998, but the classifier 'cifar10_resnet20' has 10 classes"
    ):
        dataset.check_classifier(10, "cifar10_resnet20")
