"""Central box, full image and ground-truth box maskers."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency import InputError, load_masker
from blackbox_saliency.baselines.boxes import CenterBoxMasker, FullMasker, GroundTruthMasker
from blackbox_saliency.metrics import mask_to_box


@pytest.mark.parametrize("height,width", [(224, 224), (32, 32), (100, 150), (7, 5)])
def test_center_box_covers_half_the_area_centred(height, width):
    masks = CenterBoxMasker()(torch.rand(2, 3, height, width), torch.tensor([0, 1]))
    assert masks.shape == (2, 1, height, width)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    # sides rounded to whole pixels: the area is within one row and one column of half the image
    tolerance = (height + width + 1) / (height * width)
    assert abs(float(masks[0].mean()) - 0.5) <= tolerance
    x0, y0, x1, y1 = mask_to_box(masks[:1])[0].tolist()
    assert abs((x0 + x1) / 2 - width / 2) <= 0.5 and abs((y0 + y1) / 2 - height / 2) <= 0.5
    assert abs((x1 - x0) / width - (y1 - y0) / height) <= 1.0 / min(height, width)  # same aspect ratio


def test_center_box_area_fraction_is_an_option():
    masks = CenterBoxMasker(area_fraction=0.25)(torch.rand(1, 3, 200, 200), torch.tensor([0]))
    assert float(masks.mean()) == pytest.approx(0.25)
    with pytest.raises(InputError, match="area_fraction"):
        CenterBoxMasker(area_fraction=0.0)


def test_full_is_ones_on_the_images_device_and_dtype():
    images = torch.rand(3, 3, 9, 11, dtype=torch.float64)
    masks = FullMasker()(images, torch.tensor([0, 1, 2]))
    assert masks.shape == (3, 1, 9, 11) and masks.dtype == torch.float64 and masks.device == images.device
    assert bool((masks == 1).all())


def test_gt_mask_equals_the_boxes():
    boxes = [torch.tensor([[2.0, 3.0, 10.0, 7.0]]), torch.tensor([[0.0, 0.0, 4.0, 4.0], [12.0, 10.0, 16.0, 12.0]])]
    masks = GroundTruthMasker()(torch.rand(2, 3, 12, 16), torch.tensor([0, 0]), boxes=boxes)
    assert torch.equal(mask_to_box(masks[:1]), boxes[0])
    expected = torch.zeros(12, 16)
    expected[0:4, 0:4] = 1
    expected[10:12, 12:16] = 1
    assert torch.equal(masks[1, 0], expected)
    assert float(masks[0].sum()) == (10 - 2) * (7 - 3)


def test_gt_boxes_through_set_boxes_and_errors():
    masker = GroundTruthMasker()
    with pytest.raises(InputError, match="needs ground-truth boxes"):
        masker(torch.rand(1, 3, 8, 8), torch.tensor([0]))
    masker.set_boxes([torch.tensor([[0.0, 0.0, 8.0, 4.0]])])
    assert float(masker(torch.rand(1, 3, 8, 8), torch.tensor([0])).mean()) == 0.5
    with pytest.raises(InputError, match="one box list per image"):
        masker(torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(InputError, match="x1 < x0"):
        masker.set_boxes([torch.tensor([[5.0, 0.0, 1.0, 4.0]])])


def test_registered_and_built_without_a_classifier():
    for name, cls in (("center", CenterBoxMasker), ("full", FullMasker), ("gt", GroundTruthMasker)):
        assert isinstance(load_masker(name), cls)
