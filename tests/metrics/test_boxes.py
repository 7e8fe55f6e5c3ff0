"""Boxes: mask_to_box (tightest box, property-tested), areas, IoU, scaling, localisation error.

boxes.csv is tested in tests/data/test_boxes_csv.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from blackbox_saliency.errors import InputError
from blackbox_saliency.metrics import (
    box_area,
    box_iou,
    localisation_error,
    mask_to_box,
    scale_boxes,
)

SETTINGS = settings(max_examples=60, deadline=None)

masks_np = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)).flatmap(
    lambda s: arrays(np.float32, (s[0], 1, s[1], s[2]), elements=st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]))
)


@SETTINGS
@given(masks_np, st.sampled_from([0.0, 0.3, 0.5, 0.9]))
def test_mask_to_box_contains_every_salient_pixel_and_is_tightest(m, threshold):
    masks = torch.from_numpy(m)
    boxes = mask_to_box(masks, threshold)
    assert boxes.shape == (m.shape[0], 4) and boxes.dtype == masks.dtype
    for mask, box in zip(masks[:, 0], boxes):
        x0, y0, x1, y1 = (int(v) for v in box)
        above = mask > threshold
        if not above.any():
            # fallback: the one-pixel box around the first maximal pixel
            i, j = divmod(int(mask.flatten().argmax()), mask.shape[1])
            assert (x0, y0, x1, y1) == (j, i, j + 1, i + 1)
            continue
        inside = torch.zeros_like(above)
        inside[y0:y1, x0:x1] = True
        assert not (above & ~inside).any(), "a salient pixel lies outside the box"
        # tightest: every border row/column of the box holds a salient pixel, so shrinking any side drops one
        assert above[y0, x0:x1].any() and above[y1 - 1, x0:x1].any()
        assert above[y0:y1, x0].any() and above[y0:y1, x1 - 1].any()


def test_mask_to_box_single_pixel_and_threshold_is_strict():
    m = torch.zeros(2, 1, 5, 7)
    m[0, 0, 3, 4] = 1.0
    m[1, 0, 1, 2] = 0.5  # exactly at the threshold: not salient, but still the maximum
    m[1, 0, 4, 6] = 0.4
    assert mask_to_box(m).tolist() == [[4.0, 3.0, 5.0, 4.0], [2.0, 1.0, 3.0, 2.0]]
    assert mask_to_box(m, threshold=0.3)[1].tolist() == [2.0, 1.0, 7.0, 5.0]


def test_mask_to_box_full_and_float64():
    boxes = mask_to_box(torch.ones(3, 1, 4, 6, dtype=torch.float64))
    assert boxes.dtype == torch.float64
    assert boxes.tolist() == [[0.0, 0.0, 6.0, 4.0]] * 3


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (torch.zeros(1, 4, 4), "masks"),
        (torch.zeros(1, 2, 4, 4), "masks"),
        (torch.zeros(1, 1, 4, 4, dtype=torch.int64), "masks"),
        (torch.full((1, 1, 2, 2), float("nan")), "NaN"),
    ],
)
def test_mask_to_box_bad_input(bad, fragment):
    with pytest.raises(InputError, match=fragment):
        mask_to_box(bad)


def test_box_area_and_iou_by_hand():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 1.0]])
    b = torch.tensor([[1.0, 0.0, 3.0, 2.0], [10.0, 10.0, 11.0, 11.0]])
    assert box_area(a).tolist() == [4.0, 4.0]
    iou = box_iou(a, b)
    assert iou.shape == (2, 2)
    torch.testing.assert_close(iou, torch.tensor([[2 / 6, 0.0], [2 / 6, 0.0]]))
    assert box_iou(a, a).diagonal().tolist() == [1.0, 1.0]


def test_single_pixel_box_has_area_one():
    m = torch.zeros(1, 1, 3, 3)
    m[0, 0, 2, 2] = 1
    assert box_area(mask_to_box(m)).item() == 1.0


@SETTINGS
@given(st.integers(1, 50), st.integers(1, 50), st.integers(1, 50), st.integers(1, 50))
def test_scale_boxes_maps_full_image_to_full_image_and_round_trips(h, w, h2, w2):
    full = torch.tensor([[0.0, 0.0, float(w), float(h)]], dtype=torch.float64)
    assert scale_boxes(full, (h, w), (h2, w2)).tolist() == [[0.0, 0.0, float(w2), float(h2)]]
    box = torch.tensor([[0.3 * w, 0.1 * h, 0.9 * w, 0.5 * h]], dtype=torch.float64)
    back = scale_boxes(scale_boxes(box, (h, w), (h2, w2)), (h2, w2), (h, w))
    torch.testing.assert_close(back, box)


def test_box_functions_reject_bad_boxes():
    with pytest.raises(InputError, match="`a`"):
        box_iou(torch.zeros(2, 3), torch.zeros(1, 4))
    with pytest.raises(InputError, match="`b`"):
        box_iou(torch.zeros(1, 4), torch.tensor([[2.0, 0.0, 1.0, 1.0]]))
    with pytest.raises(InputError, match="boxes"):
        box_area(torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(InputError, match="to_size"):
        scale_boxes(torch.zeros(1, 4), (4, 4), (0, 4))


def test_localisation_error_hits_and_misses():
    pred = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    gt = [
        torch.tensor([[0.0, 0.0, 10.0, 5.0]]),  # IoU exactly 0.5: a hit (>=)
        torch.tensor([[0.0, 0.0, 10.0, 4.0], [20.0, 20.0, 30.0, 30.0]]),  # IoU 0.4 and 0: a miss
        torch.tensor([[50.0, 50.0, 60.0, 60.0], [1.0, 1.0, 10.0, 10.0]]),  # the second box matches
    ]
    result = localisation_error(pred, gt)
    assert result.miss.tolist() == [False, True, False]
    assert result.error == pytest.approx(1 / 3)
    miss, error = localisation_error(pred, gt, iou_threshold=0.3)
    assert miss.tolist() == [False, False, False] and error == 0.0


def test_localisation_error_bad_input():
    pred = torch.zeros(2, 4)
    with pytest.raises(InputError, match="gt_boxes"):
        localisation_error(pred, [torch.ones(1, 4)])
    with pytest.raises(InputError, match=r"gt_boxes\[1\]"):
        localisation_error(pred, [torch.ones(1, 4), torch.zeros(0, 4)])
    with pytest.raises(InputError, match="pred_boxes"):
        localisation_error(torch.zeros(2, 5), [torch.ones(1, 4)] * 2)
    with pytest.raises(InputError, match="iou_threshold"):
        localisation_error(pred, [torch.ones(1, 4)] * 2, iou_threshold=2.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 4), st.integers(1, 12), st.integers(1, 12), st.floats(0.05, 0.95))
def test_mask_to_box_equals_torchvision_masks_to_boxes_plus_one(seed, batch, height, width, density):
    """Where torchvision.ops.masks_to_boxes applies (a mask with a pixel above the threshold) it gives the same box,
    with inclusive corners; mask_to_box keeps its own vectorised code for the batch and the empty-mask fallback."""
    import torchvision

    masks = torch.rand(batch, 1, height, width, generator=torch.Generator().manual_seed(seed))
    above = masks[:, 0] > density
    ours = mask_to_box(masks, threshold=density)
    for i in range(batch):
        if above[i].any():
            theirs = torchvision.ops.masks_to_boxes(above[i : i + 1])[0] + torch.tensor([0.0, 0.0, 1.0, 1.0])
            assert torch.equal(ours[i], theirs)
