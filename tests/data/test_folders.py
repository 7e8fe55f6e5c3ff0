"""Photo folders: one suffix list for both stacks, the listings, and detect_kind (the one path dispatch)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from blackbox_saliency.data import detect_kind, is_image, list_flat, list_imagefolder
from blackbox_saliency.errors import DataNotFoundError, InputError
from blackbox_saliency.evaluation.datasets import PhotoFolder, open_dataset
from blackbox_saliency.io import IMAGE_SUFFIXES
from blackbox_saliency.training import data as training_data


def _photo(path, colour=(200, 30, 30), size=(20, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def test_one_suffix_list():
    assert {".tif", ".tiff", ".gif", ".ppm", ".jpeg", ".webp"} <= set(IMAGE_SUFFIXES)


def test_a_tif_photo_is_seen_by_training_and_evaluation(tmp_path):
    _photo(tmp_path / "scan.tif")
    _photo(tmp_path / "photo.jpg")
    (tmp_path / "notes.txt").write_text("not a photo")
    _photo(tmp_path / ".hidden.png")
    training = training_data.build_dataset(tmp_path, 8, train=False)
    evaluation = open_dataset(tmp_path, size=(8, 8))
    assert training.kind == "flat" and [f.name for f in training.files] == ["photo.jpg", "scan.tif"]
    assert isinstance(evaluation, PhotoFolder) and evaluation.files == ["photo.jpg", "scan.tif"]
    assert evaluation[1].image.shape == (3, 8, 8) and training[1][0].shape == (3, 8, 8)


def test_listings(tmp_path):
    _photo(tmp_path / "b.png")
    _photo(tmp_path / "a.webp")
    (tmp_path / "folder.png").mkdir()  # a folder named like a photo is no photo
    assert [p.name for p in list_flat(tmp_path)] == ["a.webp", "b.png"]
    assert not is_image(tmp_path / "folder.png") and is_image(tmp_path / "b.png")
    tree = tmp_path / "tree"
    _photo(tree / "dog" / "x.gif")
    _photo(tree / "cat" / "deep" / "y.tiff")
    (tree / "empty").mkdir()
    (tree / ".git").mkdir()
    _photo(tree / ".git" / "z.png")
    files, labels, classes = list_imagefolder(tree)
    assert classes == ["cat", "dog"] and labels == [0, 1] and [f.name for f in files] == ["y.tiff", "x.gif"]


def test_detect_kind(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((1, 2, 2, 3), np.uint8))
    assert detect_kind(tmp_path / "a.npz") == "npz" and detect_kind(tmp_path) == "npz"
    (tmp_path / "index.csv").write_text("file,class_index\n")
    assert detect_kind(tmp_path) == "index_csv"
    (tmp_path / "boxes.csv").write_text("file,class_index\n")
    assert detect_kind(tmp_path) == "index_csv" and detect_kind(tmp_path, boxes=True) == "boxes_csv"
    _photo(tmp_path / "tree" / "cls" / "a.png")
    _photo(tmp_path / "tree" / "b.png")
    assert detect_kind(tmp_path / "tree") == "imagefolder" and detect_kind(tmp_path / "tree" / "cls") == "flat"


def test_detect_kind_errors_are_shared_by_both_stacks(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not an .npz"):
        detect_kind(tmp_path / "notes.txt")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        detect_kind(tmp_path / "nowhere")
    for open_empty in (detect_kind, lambda path: training_data.build_dataset(path, 8, train=False), PhotoFolder):
        with pytest.raises(DataNotFoundError, match="no images found .* no photo"):
            open_empty(tmp_path / "empty")


def test_val_dev_layout(data_dir):
    folder = data_dir / "imagenet" / "val_dev"
    assert detect_kind(folder, boxes=True) == "boxes_csv"
    assert detect_kind(folder) == "flat"  # training reads val_dev as unlabelled photos, as before
    assert len(list_flat(folder)) == 200
