"""The one index.csv reader: CSV order, optional or required labels, line-numbered errors; both stacks use it."""

from __future__ import annotations

import pytest
from PIL import Image

from blackbox_saliency.data import read_index_csv
from blackbox_saliency.errors import DataNotFoundError, InputError
from blackbox_saliency.evaluation.datasets import PhotoFolder
from blackbox_saliency.training.data import build_dataset


def _index(tmp_path, text):
    path = tmp_path / "index.csv"
    path.write_text(text)
    return path


def test_rows_in_csv_order_with_optional_labels(tmp_path):
    rows = read_index_csv(_index(tmp_path, "file,class_index\nb.jpg,7\na.jpg,\nc.jpg, 3 \n"))
    assert rows.files == ["b.jpg", "a.jpg", "c.jpg"] and rows.labels == [7, -1, 3]
    assert read_index_csv(_index(tmp_path, "file\nx.png\n")).labels == [-1]


def test_required_labels(tmp_path):
    with pytest.raises(InputError, match="lacks the column\\(s\\) \\['class_index'\\]"):
        read_index_csv(_index(tmp_path, "file\nx.png\n"), require_labels=True)
    with pytest.raises(InputError, match="line 3: class_index '' is not an integer"):
        read_index_csv(_index(tmp_path, "file,class_index\na.jpg,1\nb.jpg,\n"), require_labels=True)
    with pytest.raises(InputError, match="line 2: class_index 12 is outside 0..9"):
        read_index_csv(_index(tmp_path, "file,class_index\na.jpg,12\n"), num_classes=10)


def test_header_and_file_errors(tmp_path):
    with pytest.raises(InputError, match="lacks the column\\(s\\) \\['file'\\]"):
        read_index_csv(_index(tmp_path, "name,class_index\na.jpg,1\n"))
    with pytest.raises(InputError, match="line 2: class_index 'cat' is not an integer"):
        read_index_csv(_index(tmp_path, "file,class_index\na.jpg,cat\n"))
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_index_csv(tmp_path / "nowhere.csv")


def test_training_and_evaluation_read_the_same_labels(tmp_path):
    for name in ("b.png", "a.png"):
        Image.new("RGB", (12, 10)).save(tmp_path / name)
    _index(tmp_path, "file,class_index\nb.png,4\na.png,2\n")
    training = build_dataset(tmp_path, 8, train=False)
    evaluation = PhotoFolder(tmp_path, size=(8, 8))
    assert training.kind == "index_csv" and training.labels.tolist() == [4, 2]  # CSV order
    assert evaluation.files == ["a.png", "b.png"] and evaluation.labels == {"a.png": 2, "b.png": 4}  # sorted by name
    _index(tmp_path, "file,class_index\na.png,x\n")
    with pytest.raises(InputError, match="not an integer"):  # the same message in both stacks
        build_dataset(tmp_path, 8, train=False)
    with pytest.raises(InputError, match="not an integer"):
        PhotoFolder(tmp_path)
