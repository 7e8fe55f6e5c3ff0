"""boxes.csv, the ImageNet ground truth: real val_dev file, the inclusive-corner conversion, every error."""

from __future__ import annotations

import pytest
import torch

import blackbox_saliency.metrics as metrics
from blackbox_saliency.data import GroundTruth, load_val_boxes
from blackbox_saliency.errors import DataNotFoundError, InputError
from blackbox_saliency.metrics import box_area

HEADER = "file,wnid,class_index,width,height,x0,y0,x1,y1\n"


def test_load_val_boxes_real_file(data_dir):
    gt = load_val_boxes(data_dir / "imagenet/val_dev/boxes.csv")
    assert len(gt) == 200
    assert sum(g.boxes.shape[0] for g in gt.values()) == 334
    first = gt["ILSVRC2012_val_00000801.JPEG"]
    assert (first.class_index, first.width, first.height) == (969, 500, 375)
    # official inclusive corners 106,0,328,353 -> exclusive 329, 354
    assert first.boxes.tolist() == [[106.0, 0.0, 329.0, 354.0]]
    for g in gt.values():
        assert g.boxes.dtype == torch.float32 and g.boxes.shape[1] == 4
        assert 0 <= g.class_index < 1000
        assert (g.boxes[:, 2] <= g.width).all() and (g.boxes[:, 3] <= g.height).all()
        assert (box_area(g.boxes) >= 1).all()
    assert load_val_boxes().keys() == gt.keys()  # the default path is the shared data file


def test_load_val_boxes_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="missing.csv"):
        load_val_boxes(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,wnid,class_index\na.JPEG,n0,1\n")
    with pytest.raises(InputError, match="lacks the column"):
        load_val_boxes(bad)
    ok = tmp_path / "ok.csv"
    ok.write_text(
        "file,wnid,class_index,width,height,x0,y0,x1,y1\na.JPEG,n0,3,10,8,0,0,9,7\na.JPEG,n0,3,10,8,2,2,4,4\n"
    )
    gt = load_val_boxes(ok)
    assert gt["a.JPEG"].boxes.tolist() == [[0.0, 0.0, 10.0, 8.0], [2.0, 2.0, 5.0, 5.0]]


def _csv(tmp_path, rows: str):
    path = tmp_path / "boxes.csv"
    path.write_text(HEADER + rows)
    return path


@pytest.mark.parametrize(
    "rows, message",
    [
        ("a.JPEG,n0,seven,10,8,0,0,9,7\n", "line 2: class_index 'seven' is not an integer"),
        ("a.JPEG,n0,3,10,8,0,0,9\n", "line 2: y1 '' is not an integer"),
        ("a.JPEG,n0,3,10,8,5,0,4,7\n", "line 2: box \\(5, 0, 4, 7\\) has x1 < x0"),
        ("a.JPEG,n0,3,10,8,0,0,9,7\na.JPEG,n0,4,10,8,0,0,9,7\n", "line 3: a.JPEG is labelled both 3 and 4"),
        (
            "a.JPEG,n0,3,10,8,0,0,9,7\na.JPEG,n0,3,12,8,0,0,9,7\n",
            "line 3: a.JPEG has rows of different sizes \\(10x8 and 12x8\\)",
        ),
    ],
)
def test_malformed_rows_name_the_line(tmp_path, rows, message):
    with pytest.raises(InputError, match=message):
        load_val_boxes(_csv(tmp_path, rows))


def test_class_range_is_checked_only_when_asked(tmp_path):
    path = _csv(tmp_path, "a.JPEG,n0,1000,10,8,0,0,9,7\n")
    assert load_val_boxes(path)["a.JPEG"].class_index == 1000
    with pytest.raises(InputError, match="line 2: class_index 1000 is outside 0..999"):
        load_val_boxes(path, num_classes=1000)


def test_boxes_are_clipped_and_an_empty_file_is_empty(tmp_path):
    gt = load_val_boxes(_csv(tmp_path, "a.JPEG,n0,3,10,8,0,0,12,7\n"))["a.JPEG"]
    assert isinstance(gt, GroundTruth) and gt.boxes.tolist() == [[0.0, 0.0, 10.0, 8.0]]
    assert gt.boxes.dtype == torch.float32
    assert load_val_boxes(_csv(tmp_path, "")) == {}


def test_metrics_holds_no_file_reader():
    assert not hasattr(metrics, "load_val_boxes") and not hasattr(metrics, "GroundTruth")
