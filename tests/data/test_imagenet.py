"""Labels of the offline ImageNet folders (real shared data, and small hand-made folders for the errors): thin uses
of the boxes.csv and index.csv readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from blackbox_saliency.data.imagenet import read_sample_index, read_val_dev
from blackbox_saliency.errors import DataNotFoundError, InputError

HEADER = "file,wnid,class_index,width,height,x0,y0,x1,y1\n"


def test_val_dev_has_one_entry_per_image(data_dir):
    items = read_val_dev(data_dir / "imagenet")
    names = [path.name for path, _ in items]
    assert len(items) == 200 and len(set(names)) == 200 and names == sorted(names)
    assert names[0] == "ILSVRC2012_val_00000801.JPEG" and names[-1] == "ILSVRC2012_val_00001000.JPEG"
    assert all(path.is_file() for path, _ in items)
    assert len({label for _, label in items}) == 183  # README: 183 distinct classes
    assert all(isinstance(label, int) and 0 <= label < 1000 for _, label in items)


def test_default_root_and_parent_root_agree(data_dir):
    assert read_val_dev() == read_val_dev(data_dir) == read_val_dev(data_dir / "imagenet")


def test_sample_index_is_one_image_per_class(data_dir):
    items = read_sample_index(data_dir / "imagenet")
    wnids = [line.split(" ", 1)[0] for line in (data_dir / "imagenet" / "synsets.txt").read_text().splitlines()]
    assert [label for _, label in items] == list(range(1000))
    assert all(path.name.startswith(wnids[label] + "_") for path, label in items)
    assert all(path.is_file() for path, _ in items[:20])


def _folder(tmp_path: Path, rows: str, header: str = HEADER) -> Path:
    (tmp_path / "val_dev").mkdir()
    (tmp_path / "val_dev" / "boxes.csv").write_text(header + rows)
    return tmp_path


def test_boxes_rows_collapse_to_images(tmp_path):
    root = _folder(tmp_path, "b.JPEG,n1,7,10,10,0,0,5,5\na.JPEG,n2,3,10,10,0,0,5,5\nb.JPEG,n1,7,10,10,1,1,4,4\n")
    assert read_val_dev(root) == [(root / "val_dev" / "a.JPEG", 3), (root / "val_dev" / "b.JPEG", 7)]


@pytest.mark.parametrize(
    "rows, header, message",
    [
        ("a.JPEG,n1,7,10,10,0,0,5,5\na.JPEG,n1,8,10,10,0,0,5,5\n", HEADER, "labelled both 7 and 8"),
        ("a.JPEG,n1,seven,10,10,0,0,5,5\n", HEADER, "not an integer"),
        ("a.JPEG,n1,1000,10,10,0,0,5,5\n", HEADER, "outside 0..999"),
        ("a.JPEG,n1\n", "file,wnid\n", "class_index"),
        ("", HEADER, "no rows"),
    ],
)
def test_malformed_csv_is_explained(tmp_path, rows, header, message):
    with pytest.raises(InputError, match=message):
        read_val_dev(_folder(tmp_path, rows, header))


def test_missing_files_raise_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="boxes.csv"):
        read_val_dev(tmp_path)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_sample_index(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,class_index\na.JPEG,1000\n", "outside 0..999"),
        ("file,class_index\na.JPEG,\n", "line 2: class_index '' is not an integer"),
        ("file\na.JPEG\n", "class_index"),
        ("file,class_index\n", "no rows"),
    ],
)
def test_malformed_sample_index_is_explained(tmp_path, text, message):
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "index.csv").write_text(text)
    with pytest.raises(InputError, match=message):
        read_sample_index(tmp_path)


def test_sample_index_keeps_csv_order(tmp_path):
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "index.csv").write_text("file,class_index\nz.JPEG,2\na.JPEG,0\n")
    assert read_sample_index(tmp_path) == [(tmp_path / "sample" / "z.JPEG", 2), (tmp_path / "sample" / "a.JPEG", 0)]
    (tmp_path / "other" / "sample").mkdir(parents=True)
    with pytest.raises(
        DataNotFoundError, match="index.csv"
    ):  # the folder exists, but not its index: the path says which file
        read_sample_index(tmp_path / "other")
