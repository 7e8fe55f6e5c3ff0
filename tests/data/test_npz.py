"""The one .npz reader (training and evaluation) and the pick rule for a folder of archives."""

from __future__ import annotations

import numpy as np
import pytest

from blackbox_saliency.data import pick_npz, read_npz
from blackbox_saliency.errors import DataNotFoundError, ImageReadError, InputError
from blackbox_saliency.evaluation.datasets import NpzDataset
from blackbox_saliency.training.data import build_dataset


def test_real_cifar_archive(data_dir):
    arrays = read_npz(data_dir / "cifar10" / "cifar10_test2k.npz", require_labels=True)
    assert arrays.images.shape == (2000, 32, 32, 3) and arrays.images.dtype == np.uint8
    assert arrays.labels.dtype == np.int64 and arrays.labels.shape == (2000,)
    assert arrays.classes[:2] == ["airplane", "automobile"]


def test_labels_and_classes_are_optional_unless_required(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, images=np.zeros((3, 4, 4, 3), np.uint8))
    arrays = read_npz(path)
    assert arrays.labels.tolist() == [-1, -1, -1] and arrays.classes is None
    with pytest.raises(InputError, match="lacks the array 'labels'"):
        read_npz(path, require_labels=True)
    with pytest.raises(InputError, match="lacks the array 'labels'"):
        NpzDataset(path)  # evaluation needs labels
    assert len(build_dataset(path, 8, train=False)) == 3  # training does not


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"pictures": np.zeros((2, 4, 4, 3), np.uint8)}, "lacks the array 'images'"),
        ({"images": np.zeros((2, 4, 4, 3), np.float32)}, "uint8 of shape"),
        ({"images": np.zeros((2, 4, 4), np.uint8)}, "uint8 of shape"),
        ({"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.zeros(3)}, "2 images but 3 labels"),
        (  # 2.7 was truncated to 2
            {"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.array([1.0, 2.7])},
            r"not whole numbers \(e.g. \[2.7\]\)",
        ),
        ({"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.array([1.0, np.nan])}, "not whole numbers"),
        ({"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.array(["cat", "dog"])}, "labels are class indices"),
    ],
)
def test_malformed_archives(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=message):
        read_npz(path)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"garbage")
    for reader in (read_npz, NpzDataset):  # one error for both stacks
        with pytest.raises(ImageReadError, match="cannot read the .npz archive"):
            reader(tmp_path / "broken.npz")
    np.savez(tmp_path / "pickled.npz", images=np.array([object()], dtype=object))
    with pytest.raises(ImageReadError):
        read_npz(tmp_path / "pickled.npz")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_npz(tmp_path / "nowhere.npz")


def test_pick_npz(tmp_path):
    for name in ("a_train.npz", "a_test.npz"):
        np.savez(tmp_path / name, images=np.zeros((1, 2, 2, 3), np.uint8))
    assert pick_npz(tmp_path, train=True).name == "a_train.npz"
    assert pick_npz(tmp_path, train=False).name == "a_test.npz"
    np.savez(tmp_path / "a_val.npz", images=np.zeros((1, 2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="none \\(or several\\)"):
        pick_npz(tmp_path, train=False)
    single = tmp_path / "single"
    single.mkdir()
    np.savez(single / "whatever.npz", images=np.zeros((1, 2, 2, 3), np.uint8))
    assert pick_npz(single, train=True) == pick_npz(single, train=False) == single / "whatever.npz"


def test_whole_float_labels_are_read_as_ints(tmp_path):
    np.savez(tmp_path / "f.npz", images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.array([1.0, 2.0]))
    assert read_npz(tmp_path / "f.npz").labels.tolist() == [1, 2]
