"""The batched runner: every metric per method on a tiny real subset."""

from __future__ import annotations

import importlib.util
import math

import pytest

from blackbox_saliency import InputError
from blackbox_saliency.data import evenly_spaced
from blackbox_saliency.evaluation import EvalDataset, EvaluationOptions, build_methods, evaluate, open_dataset
from blackbox_saliency.metrics import default_metrics

QUIET = EvaluationOptions(progress=False)
NO_CURVES = default_metrics(deletion_steps=0)

HAS_GRADCAM = importlib.util.find_spec("pytorch_grad_cam") is not None


def test_evenly_spaced():
    assert evenly_spaced(2000, 4) == [0, 500, 1000, 1500]
    assert evenly_spaced(3, 5) == [0, 1, 2]
    assert evenly_spaced(10, 0) == []


def test_all_methods_on_four_val_dev_images(tiny_imagenet, val_dev):
    names = (
        ["gradient", "gradcam", "iterative", "center", "full", "gt"]
        if HAS_GRADCAM
        else ["gradient", "iterative", "center", "full", "gt"]
    )
    methods = build_methods(names, tiny_imagenet, options={"iterative": {"steps": 2}})
    data = open_dataset(val_dev, size=tiny_imagenet.input_size)
    options = EvaluationOptions(limit=4, batch_size=3, method_limits={"iterative": 2}, progress=False)
    result = evaluate(tiny_imagenet, data, methods, options, default_metrics(deletion_steps=4, deletion_limit=3))
    rows = {row.method: row for row in result.rows}
    assert list(rows) == names
    for name, row in rows.items():
        assert row.images == (2 if name == "iterative" else 4)
        assert row.deletion_images == (2 if name == "iterative" else 3)
        assert row.saliency == pytest.approx(row.log_area - row.log_prob, abs=1e-5)
        assert row.log_area <= 0 and row.log_prob <= 0
        for value in (row.loc_error, row.pointing, row.deletion_auc, row.insertion_auc):
            assert 0.0 <= value <= 1.0
        assert row.seconds_per_image >= 0
    assert rows["full"].log_area == 0.0
    assert rows["center"].log_area == pytest.approx(math.log(0.5), abs=0.02)
    assert rows["gt"].pointing == 1.0  # the maximum of a box mask lies in a box
    per_image = result.per_image["center"]
    assert per_image["names"][0] == "ILSVRC2012_val_00000801.JPEG" and len(per_image["s"]) == 4
    assert result.meta["images"] == 4 and result.meta["method_images"]["iterative"] == 2
    assert any("`iterative` ran on 2 of the 4 images" in note for note in result.notes)
    # both crop protocols and all three localisation protocols, per method
    assert result.meta["crop_from"] == "source"
    for name, row in rows.items():
        assert row.saliency == row.source_saliency
        assert row.view_saliency == pytest.approx(row.view_log_area - row.view_log_prob, abs=1e-5)
        assert 0.0 <= row.loc_error_paper <= 1.0 and 0.0 <= row.loc_error_casm <= 1.0
        assert len(row.paper_alphas) == 2 and all(a in [0.5 * i for i in range(21)] for a in row.paper_alphas)
    # a box of the whole view is the whole photo: the same area under both protocols
    assert rows["full"].source_log_area == rows["full"].view_log_area == 0.0


def test_crop_from_view_on_center_crops_is_the_old_protocol(tiny_imagenet, val_dev):
    data = open_dataset(val_dev, size=tiny_imagenet.input_size, view="center-crop")
    metrics = default_metrics(crop_from="view", deletion_steps=0)
    result = evaluate(
        tiny_imagenet,
        data,
        build_methods(["center"], tiny_imagenet),
        EvaluationOptions(limit=2, progress=False),
        metrics,
    )
    row = result.rows[0]
    assert result.meta["crop_from"] == "view" and row.saliency == row.view_saliency
    # the center box of a center crop is a smaller fraction of the whole photo
    assert row.source_log_area < row.view_log_area == pytest.approx(math.log(0.5), abs=0.02)


def test_crop_from_source_needs_originals(tiny_imagenet, cifar_npz):
    data = open_dataset(cifar_npz, size=(32, 32))
    full = build_methods(["full"], tiny_imagenet)
    with pytest.raises(InputError, match="original photos"):
        evaluate(tiny_imagenet, data, full, EvaluationOptions(target="predicted"), default_metrics(crop_from="source"))
    with pytest.raises(InputError, match="crop_from"):
        default_metrics(crop_from="photo")
    result = evaluate(
        tiny_imagenet, data, full, EvaluationOptions(limit=2, target="predicted", progress=False), NO_CURVES
    )
    assert result.meta["crop_from"] == "view" and result.rows[0].source_saliency is None


def test_without_boxes_gt_is_skipped_and_box_metrics_are_missing(tiny_imagenet, cifar_npz):
    data = open_dataset(cifar_npz, size=(32, 32))
    methods = build_methods(["center", "gt"], tiny_imagenet)
    result = evaluate(
        tiny_imagenet, data, methods, EvaluationOptions(limit=2, target="predicted", progress=False), NO_CURVES
    )
    assert [row.method for row in result.rows] == ["center"]
    assert result.rows[0].loc_error is None and result.rows[0].pointing is None and result.rows[0].deletion_auc is None
    assert any("`gt` skipped" in note for note in result.notes)


def test_bad_arguments(tiny_imagenet, cifar_npz):
    data = open_dataset(cifar_npz, size=(32, 32))
    methods = build_methods(["full"], tiny_imagenet)
    with pytest.raises(InputError, match="target"):
        EvaluationOptions(target="best")
    with pytest.raises(InputError, match="batch_size"):
        EvaluationOptions(batch_size=0)
    with pytest.raises(InputError, match="deletion_steps"):
        default_metrics(deletion_steps=-1)
    with pytest.raises(InputError, match="not evaluated"):
        evaluate(tiny_imagenet, data, methods, EvaluationOptions(method_limits={"iterative": 3}, target="predicted"))
    with pytest.raises(InputError, match="no method"):
        evaluate(tiny_imagenet, data, {})
    with pytest.raises(InputError, match="no labels"):
        evaluate(tiny_imagenet, _Unlabelled(), methods)
    with pytest.raises(InputError, match="used twice"):
        evaluate(tiny_imagenet, data, methods, QUIET, [*NO_CURVES, default_metrics()[0]])


class _Unlabelled(EvalDataset):
    has_labels = False

    def __len__(self) -> int:
        return 1
